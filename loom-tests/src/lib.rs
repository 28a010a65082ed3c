//! spacestore's loom models live in `tests/models.rs`; they run the real commit path, group
//! commit included, over the workspace's one simulated file system
//! (`spacestore_test_kit::SimFs`), with no disk.
//!
//! Run the models with `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`; without
//! `--cfg loom` they are compiled out.
