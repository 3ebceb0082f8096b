//! File globs as Go's `path/filepath` expands them, because that is how Prometheus expands
//! a configuration's `rule_files` and how promtool expands a unit-test file's: `*` and `?`
//! match within one path component, `[a-z]` and `[^abc]` match one character, `\` escapes
//! the next one, a directory component may be a pattern too, and a pattern without any of
//! these names a file only if it exists. Matches come sorted by name within each
//! directory, and paths are joined and cleaned as `filepath.Join` does, so errors and
//! warnings name the same paths promtool names.

use std::fmt;

/// A pattern that is not a glob: an unclosed or empty `[...]`, a range without its end, or
/// a `\` at the end. Go's `filepath.ErrBadPattern`, whose text this prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: any one character but `/`.
    Any,
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A character that matches itself (escaped or not).
    Literal(char),
}

/// Splits `pattern` into tokens, or says it is malformed as Go's `filepath.Match` would.
fn tokens(pattern: &str) -> Result<Vec<Token>, BadPattern> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => Token::Literal(chars.next().ok_or(BadPattern)?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    // A class ends at the first `]` after at least one range.
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = range_end(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        range_end(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            c => Token::Literal(c),
        });
    }
    Ok(out)
}

/// One end of a range in a class: a character, escaped if it is `-` or `]`.
fn range_end(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, BadPattern> {
    match chars.next() {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern),
        Some(c) => Ok(c),
    }
}

/// Whether `name` (one path component, or more for a literal `/`) matches `tokens`.
fn matches_tokens(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => {
            // Every split of the run of non-`/` characters that follows.
            let run = name.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|i| matches_tokens(rest, &name[i..]))
        }
        Some((token, rest)) => {
            let Some((&c, name)) = name.split_first() else {
                return false;
            };
            let ok = match token {
                Token::Any => c != '/',
                Token::Literal(l) => c == *l,
                Token::Class { negated, ranges } => {
                    ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                }
                Token::Star => false,
            };
            ok && matches_tokens(rest, name)
        }
    }
}

/// Whether `name` matches `pattern`, as Go's `filepath.Match`; an error if the pattern is
/// malformed anywhere, even after a mismatch.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let tokens = tokens(pattern)?;
    let name: Vec<char> = name.chars().collect();
    Ok(matches_tokens(&tokens, &name))
}

/// Whether `path` has any character a pattern treats specially.
pub fn has_meta(path: &str) -> bool {
    path.contains(['*', '?', '[', '\\'])
}

/// The shortest path naming the same file by lexical processing alone, as Go's
/// `filepath.Clean`: repeated `/` and `.` components dropped, `..` taking the component
/// before it away (or dropped at the root), `.` for nothing.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `dir` and `file` joined with `/` and cleaned, as Go's `filepath.Join`; an empty part is
/// left out, and two empty parts give the empty path.
pub fn join(dir: &str, file: &str) -> String {
    match (dir.is_empty(), file.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(file),
        (false, true) => clean(dir),
        (false, false) => clean(&format!("{dir}/{file}")),
    }
}

/// The directory part of `path`, cleaned, as Go's `filepath.Dir`: `.` for a bare name.
pub fn dir(path: &str) -> String {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..cut])
}

/// The paths matching `pattern`, as Go's `filepath.Glob`: a pattern without meta
/// characters gives itself if something exists there (even a broken symbolic link), and
/// nothing otherwise; unreadable directories match nothing.
pub fn glob(pattern: &str) -> Result<Vec<String>, BadPattern> {
    tokens(pattern)?;
    if !has_meta(pattern) {
        let exists = std::fs::symlink_metadata(pattern).is_ok();
        return Ok(if exists {
            vec![pattern.to_owned()]
        } else {
            Vec::new()
        });
    }
    let cut = pattern.rfind('/').map_or(0, |i| i + 1);
    let (dir, file) = pattern.split_at(cut);
    let dir = match dir {
        "" => ".",
        "/" => "/",
        d => &d[..d.len() - 1],
    };
    if !has_meta(dir) {
        return Ok(glob_in(dir, file));
    }
    if dir == pattern {
        return Err(BadPattern);
    }
    Ok(glob(dir)?.iter().flat_map(|d| glob_in(d, file)).collect())
}

/// The entries of the directory `dir` matching the (well-formed) `pattern`, sorted.
fn glob_in(dir: &str, pattern: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| matches(pattern, n).unwrap_or(false))
        .map(|n| join(dir, &n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_go_matches_them() {
        for (pattern, name, want) in [
            ("*.yml", "rules.yml", true),
            ("*.yml", "a/rules.yml", false),
            ("r?les.yml", "rules.yml", true),
            ("r?les.yml", "r/les.yml", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("[\\]]", "]", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*", "", true),
        ] {
            assert_eq!(matches(pattern, name), Ok(want), "{pattern} {name}");
        }
        for bad in ["[", "[]", "[a-]", "[-a]", "a\\", "[a", "[^]"] {
            assert_eq!(matches(bad, "a"), Err(BadPattern), "{bad}");
        }
    }

    #[test]
    fn paths_join_and_clean_as_go_does() {
        for (path, want) in [
            ("", "."),
            ("./a", "a"),
            ("a//b/./c/..", "a/b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("/", "/"),
        ] {
            assert_eq!(clean(path), want, "{path:?}");
        }
        assert_eq!(join(".", "rules.yml"), "rules.yml");
        assert_eq!(join("tests", "../rules.yml"), "rules.yml");
        assert_eq!(join("", ""), "");
        assert_eq!(dir("tests.yml"), ".");
        assert_eq!(dir("a/b/tests.yml"), "a/b");
        assert_eq!(dir("/tests.yml"), "/");
    }

    #[test]
    fn globs_expand_in_every_component_sorted_per_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        for f in ["b/x.yml", "a/y.yml", "a/x.yml", "a/x.txt", "c"] {
            let p = tmp.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let rel = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|p| p.strip_prefix(root).unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            rel(glob(&format!("{root}/*/*.yml")).unwrap()),
            ["/a/x.yml", "/a/y.yml", "/b/x.yml"]
        );
        assert_eq!(rel(glob(&format!("{root}/c/*")).unwrap()), [] as [&str; 0]);
        assert_eq!(rel(glob(&format!("{root}/a/x.yml")).unwrap()), ["/a/x.yml"]);
        assert!(glob(&format!("{root}/a/nothing.yml")).unwrap().is_empty());
        assert_eq!(glob(&format!("{root}/[/*")), Err(BadPattern));
    }
}
