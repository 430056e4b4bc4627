// Migrations are embedded at compile time: without this a new migration
// would silently be left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
