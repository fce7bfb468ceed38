//! The storage directory: what must survive a restart, readable by the owner only (files
//! 0600, folders 0700), written atomically (a temporary file renamed over the old one) so
//! that a crash never leaves half a certificate.
//!
//! ```text
//! STORAGE/acme/DIRECTORY/account.json          the ACME account (key and URL)
//! STORAGE/acme/DIRECTORY/certs/NAME/cert.pem   chain, leaf first
//! STORAGE/acme/DIRECTORY/certs/NAME/key.pem
//! STORAGE/internal/root.pem, root.key           the internal CA
//! STORAGE/internal/certs/NAME/cert.pem, key.pem
//! ```
//! DIRECTORY is the directory URL made into a file name, so that certificates from
//! staging and production (or two CAs) never mix.
use crate::LoadedCert;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The folder of one issuer: `acme/DIRECTORY` or `internal`.
pub fn acme_dir(storage: &Path, directory_url: &str) -> PathBuf {
    let slug: String = directory_url
        .split_once("://")
        .map_or(directory_url, |(_, rest)| rest)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    storage.join("acme").join(slug.trim_matches('-'))
}

pub fn internal_dir(storage: &Path) -> PathBuf {
    storage.join("internal")
}

/// Where `name`'s certificate and key are kept under an issuer's folder.
pub fn cert_paths(issuer_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = issuer_dir.join("certs").join(name);
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The stored certificate of `name`: `Ok(None)` when there is none, `Err` when it cannot
/// be used (damaged, expired, not for this name).
pub fn load_cert(issuer_dir: &Path, name: &str) -> Result<Option<LoadedCert>, String> {
    let (cert, key) = cert_paths(issuer_dir, name);
    if !cert.exists() {
        return Ok(None);
    }
    let loaded = LoadedCert::from_files(&cert.to_string_lossy(), &key.to_string_lossy(), &crate::provider())?;
    if !loaded.names.iter().any(|n| n == name) {
        return Err(format!("{} is not for {name}", cert.display()));
    }
    Ok(Some(loaded))
}

/// Stores `name`'s certificate chain and key (both PEM).
pub fn save_cert(issuer_dir: &Path, name: &str, chain_pem: &str, key_pem: &str) -> Result<(), String> {
    let (cert, key) = cert_paths(issuer_dir, name);
    // The key first: a reader that finds a new certificate finds its key.
    write_private(&key, key_pem.as_bytes())?;
    write_private(&cert, chain_pem.as_bytes())
}

/// Writes `bytes` to `path` with mode 0600, creating its folders with mode 0700.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or_else(|| format!("{} has no folder", path.display()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn directories_get_their_own_folders() {
        let root = Path::new("/s");
        assert_eq!(
            acme_dir(root, "https://acme-v02.api.letsencrypt.org/directory"),
            Path::new("/s/acme/acme-v02.api.letsencrypt.org-directory")
        );
        assert_eq!(acme_dir(root, "https://localhost:14000/dir"), Path::new("/s/acme/localhost-14000-dir"));
    }

    #[test]
    fn files_are_private() {
        let dir = std::env::temp_dir().join(format!("forecourt-storage-{}", std::process::id()));
        let path = dir.join("a/b/secret.pem");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("a/b")).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
