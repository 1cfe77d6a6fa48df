//! A line writer for generated code: every generator builds its file with it, so indentation
//! and line endings (`\n`, one at the end of the file) are the same everywhere.

#[derive(Default)]
pub struct Code {
    text: String,
}

impl Code {
    pub fn new() -> Self {
        Code::default()
    }

    /// One line, written as given (trailing spaces trimmed).
    pub fn line(&mut self, text: impl AsRef<str>) {
        let text = text.as_ref();
        self.text.push_str(text.trim_end());
        self.text.push('\n');
    }

    /// Lines of a block, each prefixed with `prefix` (an indentation or a comment leader).
    pub fn lines<I, S>(&mut self, prefix: &str, lines: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for l in lines {
            self.line(format!("{prefix}{}", l.as_ref()));
        }
    }

    /// An empty line, never two in a row and never at the start.
    pub fn blank(&mut self) {
        self.blanks(1);
    }

    /// Up to `n` empty lines in a row (Python puts two between top-level definitions).
    pub fn blanks(&mut self, n: usize) {
        if self.text.is_empty() {
            return;
        }
        let have = self.text.len() - self.text.trim_end_matches('\n').len() - 1;
        for _ in have..n {
            self.text.push('\n');
        }
    }

    /// The file: exactly one trailing newline.
    pub fn finish(mut self) -> String {
        while self.text.ends_with("\n\n") {
            self.text.pop();
        }
        self.text
    }
}
