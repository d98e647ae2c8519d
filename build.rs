//! Links the `reqmail` executable as non-PIE on Linux.
//!
//! `ingest` runs as one process per message, so start-up cost is paid per message. A
//! position-independent executable of this size carries some 66,000 relative
//! relocations; the dynamic loader writes each one at start, touching about 400 pages
//! (about 3 ms on a virtual machine). Linked at a fixed address, it needs none. The
//! price is that the executable's own code is not moved by address-space
//! randomisation (libraries, heap and stack still are). `REQMAIL_PIE=1` at build time
//! keeps the default position-independent link.
//!
//! A build with `-C target-feature=+crt-static` in RUSTFLAGS is left position
//! independent: glibc's static start-up then relocates itself, and with `-no-pie` the
//! result would still name the dynamic loader and crash at start. `scripts/static-ingest`
//! passes both that and `-C relocation-model=static` to the hand-off executable alone,
//! which this build script does not see: `-no-pie` then agrees with the static link.

fn main() {
    println!("cargo:rerun-if-env-changed=REQMAIL_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let static_crt = std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|features| features.split(',').any(|feature| feature == "crt-static"));
    if linux && !static_crt && std::env::var_os("REQMAIL_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
