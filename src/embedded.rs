//! The embedded Python worker and `ebb` module, written to the runtime dir at start.

use std::path::Path;

use anyhow::Result;

/// Every embedded Python file: its path under the runtime dir's `python/`, and its text.
/// `run_worker.py` runs the worker as an imported module, so that Python caches its bytecode.
pub const PYTHON_FILES: &[(&str, &str)] = &[
    ("ebb_worker.py", include_str!("python/ebb_worker.py")),
    ("run_worker.py", include_str!("python/run_worker.py")),
    ("ebb/__init__.py", include_str!("python/ebb/__init__.py")),
];

/// Materialise the embedded Python worker and module under `dir/python`.
pub fn write_python_files(dir: &Path) -> Result<()> {
    let py = dir.join("python");
    for (name, text) in PYTHON_FILES {
        let path = py.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Whether every embedded file is still under `dir/python` (a tmp cleaner may remove them).
pub fn python_files_present(dir: &Path) -> bool {
    let py = dir.join("python");
    PYTHON_FILES.iter().all(|(name, _)| py.join(name).is_file())
}
