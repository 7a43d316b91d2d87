//! A workshop level with one mistake in it: see build.rs and levels/mutants.py.
include!(concat!(env!("OUT_DIR"), "/main.rs"));
