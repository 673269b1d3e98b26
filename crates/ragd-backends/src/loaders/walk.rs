//! Finding the files to ingest: explicit files are taken as they are; directories are walked
//! recursively, keeping files of a supported format that match the include globs and none of the
//! exclude globs. Hidden files and directories are skipped unless named explicitly, and so are
//! symbolic links that lead out of the directory walked, unless `follow_symlinks` is set.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ragd_core::{Error, Result};

use super::Format;

/// Which files a directory walk keeps.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Globs a file must match (any of them); empty means every supported file.
    pub include: Vec<String>,
    /// Globs that exclude a file or directory.
    pub exclude: Vec<String>,
    /// Follow symbolic links wherever they lead (default: only within the directory walked).
    pub follow_symlinks: bool,
}

/// Whether a walked entry stays inside `root` (itself canonical): links are resolved first.
fn inside(root: &Path, entry: &walkdir::DirEntry) -> bool {
    !entry.path_is_symlink()
        || std::fs::canonicalize(entry.path()).is_ok_and(|target| target.starts_with(root))
}

/// A file found for ingestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its source name: the path as given on the command line (stable across runs).
    pub source: String,
}

fn globset(patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(Glob::new(p).map_err(|e| Error::invalid(format!("bad glob {p:?}: {e}")))?);
    }
    builder.build().map_err(|e| Error::invalid(e.to_string()))
}

fn matches(set: &GlobSet, root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    set.is_match(rel) || path.file_name().is_some_and(|n| set.is_match(n))
}

/// The files under `paths`, sorted within each directory, without duplicates.
pub fn collect_files(paths: &[PathBuf], options: &WalkOptions) -> Result<Vec<FileEntry>> {
    let include = globset(&options.include)?;
    let exclude = globset(&options.exclude)?;
    let mut out: Vec<FileEntry> = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root)
            .map_err(|e| Error::invalid(format!("{}: {e}", root.display())))?;
        if meta.is_file() {
            out.push(FileEntry {
                path: root.clone(),
                source: root.display().to_string(),
            });
            continue;
        }
        let walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        let canonical_root = std::fs::canonicalize(root)
            .map_err(|e| Error::invalid(format!("{}: {e}", root.display())))?;
        let entries = walker.filter_entry(|e| {
            let hidden = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            let allowed = options.follow_symlinks || inside(&canonical_root, e);
            if !allowed {
                tracing::warn!(path = %e.path().display(), "skipping a symbolic link that leads out of the directory (--follow-symlinks follows it)");
            }
            !hidden && allowed && !matches(&exclude, root, e.path())
        });
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::invalid(format!("walking {}: {e}", root.display())))?;
            let path = entry.path();
            let name = path.to_string_lossy();
            let wanted = entry.file_type().is_file()
                && Format::from_name(&name).is_some()
                && (options.include.is_empty() || matches(&include, root, path));
            if wanted {
                out.push(FileEntry {
                    path: path.to_path_buf(),
                    source: path.display().to_string(),
                });
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(f.path.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files a walk of `root` finds, relative to it.
    fn relative_names(root: &Path, opts: &WalkOptions) -> Vec<String> {
        collect_files(&[root.to_path_buf()], opts)
            .expect("walk")
            .into_iter()
            .map(|f| {
                f.path
                    .strip_prefix(root)
                    .expect("rel")
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn walks_with_globs_and_skips_hidden_and_unsupported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for f in [
            "a.md",
            "b.txt",
            "c.bin",
            "sub/d.html",
            "sub/skip/e.md",
            ".git/f.md",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "x").expect("write");
        }
        let names = |opts: &WalkOptions| relative_names(root, opts);
        assert_eq!(
            names(&WalkOptions::default()),
            ["a.md", "b.txt", "sub/d.html", "sub/skip/e.md"]
        );
        let opts = WalkOptions {
            include: vec!["*.md".into()],
            exclude: vec!["skip".into()],
            follow_symlinks: false,
        };
        assert_eq!(names(&opts), ["a.md"]);
    }

    #[test]
    fn links_out_of_the_tree_are_followed_only_when_asked() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret.txt"), "x").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("a.md"), "x").expect("write");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), root.join("out")).expect("link");
        std::os::unix::fs::symlink(root.join("a.md"), root.join("sub/in.md")).expect("link");
        let found = |follow_symlinks| -> Vec<String> {
            let opts = WalkOptions {
                follow_symlinks,
                ..WalkOptions::default()
            };
            relative_names(root, &opts)
        };
        assert_eq!(
            found(false),
            ["a.md", "sub/in.md"],
            "a link inside the tree is kept"
        );
        assert_eq!(found(true), ["a.md", "out/secret.txt", "sub/in.md"]);
    }
}
