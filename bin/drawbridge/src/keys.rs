//! `drawbridge keygen` and `drawbridge pubkey`: the same as `wg genkey` and `wg pubkey`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use drawbridge_tunnel::keys;

pub(crate) fn keygen() -> anyhow::Result<ExitCode> {
    say!("{}", keys::encode(&keys::generate_private()));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pubkey() -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin()
        .take(1024)
        .read_to_string(&mut input)
        .context("reading the private key from standard input")?;
    let private = keys::decode(&input).context("standard input")?;
    say!("{}", keys::encode(&keys::public_of(&private)));
    Ok(ExitCode::SUCCESS)
}
