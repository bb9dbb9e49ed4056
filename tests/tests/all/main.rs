//! berth's integration tests: real components built from source, deployed
//! through the real engine into temporary repositories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod examples;
mod golden;
mod limits;
mod model;
mod packages;
mod provide;
mod python;
mod readme;
mod sandbox;
mod schedule;
mod secrets;
mod version;
mod wasi;
