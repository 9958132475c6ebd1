//! The embedded Python worker and `ebb` module, written to the runtime dir at start.

use std::path::Path;

use anyhow::{Context, Result};

/// (path, contents) of one file under `src/python`.
macro_rules! py {
    ($rel:literal) => {
        ($rel, include_str!(concat!("python/", $rel)))
    };
}

/// Every file under `src/python` (the worker package, its launcher and the `ebb` module), as
/// (path relative to `src/python`, contents).  A unit test checks that this list names every
/// `.py` file there, so a new module cannot be forgotten.
pub const PYTHON_FILES: &[(&str, &str)] = &[
    py!("run_worker.py"),
    py!("ebb/__init__.py"),
    py!("ebb_worker/__init__.py"),
    py!("ebb_worker/accept.py"),
    py!("ebb_worker/access.py"),
    py!("ebb_worker/app.py"),
    py!("ebb_worker/autoreload.py"),
    py!("ebb_worker/body.py"),
    py!("ebb_worker/errors.py"),
    py!("ebb_worker/forkserver.py"),
    py!("ebb_worker/handover.py"),
    py!("ebb_worker/harakiri.py"),
    py!("ebb_worker/hooks.py"),
    py!("ebb_worker/http1.py"),
    py!("ebb_worker/logs.py"),
    py!("ebb_worker/loop.py"),
    py!("ebb_worker/main.py"),
    py!("ebb_worker/master.py"),
    py!("ebb_worker/mounts.py"),
    py!("ebb_worker/options.py"),
    py!("ebb_worker/poller.py"),
    py!("ebb_worker/pyopts.py"),
    py!("ebb_worker/routes.py"),
    py!("ebb_worker/settings.py"),
    py!("ebb_worker/spooler.py"),
    py!("ebb_worker/static.py"),
    py!("ebb_worker/uwsgi.py"),
    py!("ebb_worker/uwsgi_api.py"),
    py!("ebb_worker/uwsgidecorators_api.py"),
    py!("ebb_worker/wsgi.py"),
];

/// Materialise the embedded Python worker and module under `dir/python`.
pub fn write_python_files(dir: &Path) -> Result<()> {
    let py = dir.join("python");
    for (rel, text) in PYTHON_FILES {
        let path = py.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Whether every embedded file is still under `dir/python` (a tmp cleaner may remove them).
pub fn python_files_present(dir: &Path) -> bool {
    let py = dir.join("python");
    PYTHON_FILES.iter().all(|(name, _)| py.join(name).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn py_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    py_files(root, &path, out);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_python_file_is_embedded() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/python");
        let mut on_disk = Vec::new();
        py_files(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = PYTHON_FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "src/embedded.rs PYTHON_FILES must list exactly the .py files under src/python"
        );
    }

    #[test]
    fn written_files_match_the_embedded_ones() {
        let dir = tempfile::tempdir().unwrap();
        write_python_files(dir.path()).unwrap();
        for (rel, text) in PYTHON_FILES {
            let got = std::fs::read_to_string(dir.path().join("python").join(rel)).unwrap();
            assert_eq!(&got, text, "{rel}");
        }
    }
}
