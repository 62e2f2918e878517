// Shared by the build scripts of every crate whose binaries or tests link libtorch (`include!`d).
//
// Why: link arguments printed by a build script apply only to that package's own targets, so each
// package that produces a linked artefact needs them. `--no-as-needed -ltorch` keeps libtorch.so (and
// through it libtorch_cuda.so) in DT_NEEDED even though no symbol is referenced directly; without it
// the linker drops it and CUDA is silently unavailable. The rpath lets a built binary run on this
// machine without LD_LIBRARY_PATH; elsewhere set LD_LIBRARY_PATH=<torch>/lib.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        println!("cargo:rustc-link-search=native={}", lib.display());
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
}
