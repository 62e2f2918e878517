// Shared by the build scripts of every crate whose binaries or tests link libtorch (`include!`d).
//
// Why: link arguments printed by a build script apply only to that package's own targets, so each
// package that produces a linked artefact needs them. `--no-as-needed -ltorch` keeps libtorch.so (and
// through it libtorch_cuda.so) in DT_NEEDED even though no symbol is referenced directly; without it
// the linker drops it and CUDA is silently unavailable. The rpath lets a built binary run on this
// machine without LD_LIBRARY_PATH; elsewhere set LD_LIBRARY_PATH=<torch>/lib.

/// Every target of the package links libtorch.
#[allow(dead_code)]
fn link_libtorch() {
    link_libtorch_for(&["rustc-link-arg"]);
}

/// Only the targets the given link-argument directives name (`rustc-link-arg-bin=NAME`,
/// `rustc-link-arg-tests`, ...) link libtorch; the package's other binaries stay free of it.
fn link_libtorch_for(directives: &[&str]) {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let mut args = Vec::new();
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        args.push(format!("-Wl,-rpath,{}", lib.display()));
        println!("cargo:rustc-link-search=native={}", lib.display());
    }
    args.push("-Wl,--no-as-needed".into());
    args.push("-ltorch".into());
    for directive in directives {
        for arg in &args {
            println!("cargo:{directive}={arg}");
        }
    }
}
