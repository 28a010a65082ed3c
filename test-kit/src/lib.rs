//! What spacestore's tests, fuzz targets and loom models share: [`simfs::SimFs`], the one
//! simulated file system (fault injection, simulated power loss and process crashes, durable
//! bytes kept apart from written ones), and [`simfs::workload`], random workloads checked
//! against a reference model; and [`fuzz`], the checks behind the fuzz targets.
//!
//! Not published: a dev-dependency of the workspace's crates.

pub mod fuzz;
pub mod simfs;

pub use simfs::{Rng, SimFs};
