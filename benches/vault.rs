//! Streaming file encryption throughput on one core: `cargo bench --bench vault`.
//! Encrypts and decrypts 512 MiB from memory to memory (so the disk is not
//! what is measured), three times each, and prints the best.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

use sluice_vault::{Aad, FileKey};
use std::time::Instant;

fn main() {
    let size = 512 * 1024 * 1024;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let key = FileKey::generate();
    let owner = Aad::new("bench", "uploads", "file", "file");
    let mut sealed = Vec::with_capacity(size + size / 4096 + 64);
    let mut best_encrypt = f64::MAX;
    for _ in 0..3 {
        sealed.clear();
        let t = Instant::now();
        key.encrypt(&owner, &data[..], &mut sealed).unwrap();
        best_encrypt = best_encrypt.min(t.elapsed().as_secs_f64());
    }
    let mut plain = Vec::with_capacity(size);
    let mut best_decrypt = f64::MAX;
    for _ in 0..3 {
        plain.clear();
        let t = Instant::now();
        key.decrypt(&owner, &sealed[..], &mut plain).unwrap();
        best_decrypt = best_decrypt.min(t.elapsed().as_secs_f64());
    }
    assert_eq!(plain, data);
    let mib = size as f64 / (1024.0 * 1024.0);
    println!("| operation | size | best of 3 | throughput |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| encrypt | {mib:.0} MiB | {best_encrypt:.2} s | {:.0} MiB/s |",
        mib / best_encrypt
    );
    println!(
        "| decrypt | {mib:.0} MiB | {best_decrypt:.2} s | {:.0} MiB/s |",
        mib / best_decrypt
    );
}
