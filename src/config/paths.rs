//! What a configured path must be (a directory, a file, a virtualenv...), and the message
//! when it is not.

use std::path::Path;

/// What a path must be.
#[derive(Clone, Copy)]
pub(super) enum Need {
    Dir,
    File,
    Exists,
    /// A virtualenv: a directory with bin/python.
    Venv,
    /// Its directory must exist (a file ebb creates).
    Parent,
}

impl Need {
    pub(super) fn check(self, p: &Path) -> Option<String> {
        let d = p.display();
        match self {
            Need::Dir if !p.exists() => Some(format!(
                "directory {d} does not exist: create it, or fix the path"
            )),
            Need::Dir if !p.is_dir() => Some(format!("{d} is not a directory")),
            Need::File if !p.exists() => Some(format!(
                "file {d} does not exist: fix the path (relative paths start from chdir when set, else from the current directory; in an ini file %d is the file's directory)"
            )),
            Need::File if p.is_dir() => Some(format!("{d} is a directory, not a file")),
            Need::Exists if !p.exists() && d.to_string().contains(',') => Some(format!(
                "{d} does not exist: give one directory per pythonpath, and repeat it for \
                 several (gunicorn's comma-separated list is not split)"
            )),
            Need::Exists if !p.exists() => Some(format!("{d} does not exist: fix the path")),
            Need::Venv if !p.is_dir() => Some(format!(
                "virtualenv {d} does not exist: create it with python3 -m venv {d}, or fix the path"
            )),
            Need::Venv if !p.join("bin/python").exists() && !p.join("bin/python3").exists() => {
                Some(format!("{d} has no bin/python: is it a virtualenv?"))
            }
            Need::Parent => {
                let parent = p.parent().filter(|x| !x.as_os_str().is_empty())?;
                (!parent.is_dir()).then(|| {
                    format!(
                        "directory {} does not exist: create it first",
                        parent.display()
                    )
                })
            }
            _ => None,
        }
    }
}
