//! The checks behind spacestore's fuzz targets live in the workspace's test kit
//! (`spacestore_test_kit::fuzz`), so that the normal test run replays the same checks.

pub use spacestore_test_kit::fuzz::*;
pub use spacestore_test_kit::simfs;
