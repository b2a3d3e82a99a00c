//! Errors that name the file, the place in it and the fix.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem found in a ladder profile.
///
/// Displayed as `{file}: {path}: {message} (fix: {fix})`, e.g.
/// `ladder.yaml: video[1].bitrate: bitrate 9000000 b/s of 720p is not lower than ... (fix: ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{file}: {path}: {message} (fix: {fix})")]
pub struct ProfileError {
    /// The file the profile came from (a path, or a label such as `<upload>`).
    pub file: String,
    /// Where in the document: a YAML path such as `video[1].bitrate`, or
    /// `(document)` / `line 3, column 5` for problems with the text itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub fix: String,
}

/// Every problem found in one profile, in document order where it matters.
///
/// Displayed as one line per problem. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl ProfileErrors {
    /// A single error, for problems that stop everything (unreadable file, broken YAML).
    pub fn one(
        file: &str,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ProfileErrors(vec![ProfileError {
            file: file.to_owned(),
            path: path.into(),
            message: message.into(),
            fix: fix.into(),
        }])
    }

    /// The problems, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, ProfileError> {
        self.0.iter()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there is no problem (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}

impl<'a> IntoIterator for &'a ProfileErrors {
    type Item = &'a ProfileError;
    type IntoIter = std::slice::Iter<'a, ProfileError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects problems while a profile is read and checked. Keeps at most one
/// problem per path, and none inside a value that already has one, so that a
/// key of the wrong type is not also reported as missing, or out of range.
pub(crate) struct Report {
    file: String,
    errors: Vec<ProfileError>,
    seen: HashSet<String>,
    /// A problem was found after [`MAX_REPORTED`] were recorded.
    truncated: bool,
}

/// Most problems listed for one file; a last line says when there were more.
pub const MAX_REPORTED: usize = 100;

impl Report {
    pub(crate) fn new(file: &str) -> Self {
        Report {
            file: file.to_owned(),
            errors: Vec::new(),
            seen: HashSet::new(),
            truncated: false,
        }
    }

    /// Records a problem unless `path`, or a value enclosing it (`video[0]`
    /// for `video[0].width`), already has one.
    pub(crate) fn push(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let path = path.into();
        let enclosing_broken = path
            .char_indices()
            .filter(|(_, c)| *c == '.' || *c == '[')
            .any(|(i, _)| self.seen.contains(&path[..i]));
        if enclosing_broken || !self.seen.insert(path.clone()) {
            return;
        }
        if self.is_full() {
            self.truncated = true;
            return;
        }
        self.errors.push(ProfileError {
            file: self.file.clone(),
            path,
            message: message.into(),
            fix: fix.into(),
        });
    }

    /// Marks `path` as already explained, so later problems there are not reported.
    pub(crate) fn silence(&mut self, path: impl Into<String>) {
        self.seen.insert(path.into());
    }

    /// True once [`MAX_REPORTED`] problems are recorded: walking further is
    /// wasted work (a hostile document can hold a million problems).
    pub(crate) fn is_full(&self) -> bool {
        self.errors.len() >= MAX_REPORTED
    }

    /// Records that there were problems past the limit that were not looked for.
    pub(crate) fn note_more(&mut self) {
        self.truncated = true;
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_errors(mut self) -> ProfileErrors {
        if self.truncated {
            self.errors.push(ProfileError {
                file: self.file.clone(),
                path: "(document)".to_owned(),
                message: format!("more problems were found than the {MAX_REPORTED} listed"),
                fix: "fix the problems above and validate again".to_owned(),
            });
        }
        ProfileErrors(self.errors)
    }
}
