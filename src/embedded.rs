//! The embedded Python worker and `ebb` module, written to the runtime dir at start.

use std::path::Path;

use anyhow::Result;

/// The Python worker and the `ebb` module, embedded in the binary.
pub const PYTHON_WORKER: &str = include_str!("python/ebb_worker.py");
/// Runs the worker as an imported module, so that Python caches its bytecode.
pub const PYTHON_LAUNCHER: &str = include_str!("python/run_worker.py");
pub const PYTHON_MODULE: &str = include_str!("python/ebb/__init__.py");

/// Materialise the embedded Python worker and module under `dir/python`.
pub fn write_python_files(dir: &Path) -> Result<()> {
    let py = dir.join("python");
    std::fs::create_dir_all(py.join("ebb"))?;
    std::fs::write(py.join("ebb_worker.py"), PYTHON_WORKER)?;
    std::fs::write(py.join("run_worker.py"), PYTHON_LAUNCHER)?;
    std::fs::write(py.join("ebb/__init__.py"), PYTHON_MODULE)?;
    Ok(())
}
