include!("link.rs");
fn main() {
    link_libtorch();
}
