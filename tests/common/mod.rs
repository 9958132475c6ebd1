//! Integration-test harness: run the real `ebb` binary, read its log, talk HTTP to it, and
//! leave nothing behind.
//!
//! - [`Ebb`] starts the master with `--log-format json` (unless told otherwise), captures its
//!   stderr (and its workers') line by line, and on drop SIGKILLs the master *and every
//!   worker* (found through `/proc/*/environ`: each worker carries `EBB_MASTER_PID`), even
//!   when the test failed. On a failing test it prints the tail of the log.
//! - Every wait has a deadline; nothing sleeps where an event can be waited for.
//! - [`Conn`] is a tiny keep-alive HTTP/1.1 client over TCP or a Unix socket.
#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

pub const EBB: &str = env!("CARGO_BIN_EXE_ebb");

/// A generous bound for "it happens soon" (a loaded 2-core box).
pub const SOON: Duration = Duration::from_secs(10);

mod apps;
mod ebb;
mod http;
mod jobs;
mod log;
mod procs;

pub use apps::*;
pub use ebb::*;
pub use http::*;
pub use jobs::*;
pub use log::*;
pub use procs::*;
