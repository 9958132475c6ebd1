//! ebb: a pre-fork process supervisor that recycles workers without losing work.
pub mod calendar;
pub mod cli;
pub mod config;
pub mod embedded;
pub mod example_app;
pub mod live;
pub mod logs;
pub mod master;
pub mod notify;
pub mod policy;
pub mod procinfo;
pub mod sockets;
pub mod spawn;
pub mod worker;
