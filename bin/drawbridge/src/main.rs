//! drawbridge: a Session Border Controller in one binary.
//!
//! This file only parses the command line and dispatches; each subcommand lives in its
//! own module.

/// `println!` for command output: a reader that stops early (`drawbridge peer list |
/// head -1`) closes the pipe, which is not an error of the command, so it is ignored
/// instead of panicking as `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` with the same closed-pipe tolerance as [`say!`].
macro_rules! put {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod check;
mod cli;
mod keys;
mod limits;
mod logging;
mod metrics;
mod peer;
mod run;
mod secrets;
mod signalling;
mod tunnel;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Check(args) => check::check(&args),
        Command::Keygen => keys::keygen(),
        Command::Pubkey => keys::pubkey(),
        Command::Peer(cmd) => peer::peer(&cmd),
        Command::Version => {
            say!("drawbridge {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
