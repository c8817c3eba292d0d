//! Sets up linking for a Node native module.

fn main() {
    napi_build::setup();
}
