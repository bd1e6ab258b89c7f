//! For the file tests: a scratch directory per test, and the two file
//! commands of PROTOCOL.md "Files" as the BEAM sends them.

use super::{atom, bin, header_list, int, map, tuple, Ferry, Term};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system's temp dir, removed with what it holds
/// when dropped.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ferry-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        TestDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// A file of `bytes`; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write test file");
        p
    }

    /// Names of the entries in the directory.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read test dir")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn path_bin(p: &Path) -> Term {
    bin(p.as_os_str().as_encoded_bytes())
}

/// `{send_file, Id, Status, Headers, {Path, Offset, Length}}`.
pub fn send_file(ferry: &mut Ferry, id: i64, status: i64, headers: &[(&str, &str)], path: &Path, offset: u64, length: u64) {
    let range = tuple(vec![path_bin(path), int(offset as i64), int(length as i64)]);
    ferry.send(&tuple(vec![atom("send_file"), int(id), int(status), header_list(headers), range]));
}

/// `{body_to_file, Id, Target, Opts}`; `target` None is `tmp`.
pub fn body_to_file(ferry: &mut Ferry, id: i64, target: Option<&Path>, opts: Vec<(&str, Term)>) {
    let target = target.map_or_else(|| atom("tmp"), path_bin);
    ferry.send(&tuple(vec![atom("body_to_file"), int(id), target, map(opts)]));
}
