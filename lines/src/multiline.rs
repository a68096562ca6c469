//! Multiline joining: stack traces and indented continuations become one event.
//!
//! A pure state machine. [`Multiline::push`] takes one physical line and returns the *previous*
//! event when this line starts a new one; [`Multiline::flush`] returns the pending event. The
//! caller decides when to flush (end of file, or no new line for a while): timing is not in here.
//!
//! A line continues the pending event when it:
//! - starts with a space or tab (Java `\tat ...`, Python `  File ...`, indented details);
//! - starts with `at `, `Caused by:`, `Suppressed:`, `... N more`, `Traceback (most recent call
//!   last):` or `goroutine N [`;
//! - is inside a Go crash report: after a `panic:` or `fatal error:` line, blank lines and
//!   `goroutine N [...]:` stacks (their function lines and indented file lines);
//! - is a Java exception line (`java.lang.IllegalStateException: boom`) right after a log line;
//! - is inside a Python traceback (its closing `ValueError: boom` line, and the
//!   `During handling of the above exception...` chaining).
//!
//! Events are capped at [`MultilineConfig::max_bytes`] and [`MultilineConfig::max_lines`]; lines
//! beyond the cap are consumed (they still belong to the event) but their text is dropped and the
//! event is marked `truncated`.

/// Default cap on an event's text: 64 KiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
/// Default cap on an event's physical lines.
pub const DEFAULT_MAX_LINES: usize = 500;

/// Caps for joined events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultilineConfig {
    /// Most bytes of text kept per event.
    pub max_bytes: usize,
    /// Most physical lines kept per event.
    pub max_lines: usize,
    /// Strip one trailing `'\r'` from each line (CRLF files read by `str::lines`); a caller
    /// that already removed it (the agent's tailer) turns this off so a line's own `'\r'` is
    /// kept.
    pub strip_cr: bool,
}

impl Default for MultilineConfig {
    fn default() -> Self {
        MultilineConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            max_lines: DEFAULT_MAX_LINES,
            strip_cr: true,
        }
    }
}

/// One logical event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The kept lines, joined with `\n`.
    pub text: String,
    /// Physical lines consumed (including dropped ones).
    pub lines: usize,
    /// Whether a cap dropped text.
    pub truncated: bool,
}

/// The joiner.
#[derive(Debug, Clone, Default)]
pub struct Multiline {
    config: MultilineConfig,
    pending: Option<Joined>,
    kept_lines: usize,
    in_python_traceback: bool,
    // Just after a traceback's closing line: a blank line or chaining text may still follow.
    after_python_traceback: bool,
    // Go: after a `panic:` / `fatal error:` line, or inside a `goroutine N [...]:` stack.
    go: GoState,
}

/// Where a Go crash report is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum GoState {
    #[default]
    None,
    /// The event began with `panic: ` or `fatal error: `: blank lines and the stacks follow.
    AfterPanic,
    /// Inside a goroutine's stack: function lines (`main.main()`, `created by ...`) and
    /// indented file lines.
    InStack,
}

impl Multiline {
    /// A joiner with `config`.
    pub fn new(config: MultilineConfig) -> Self {
        Multiline {
            config,
            ..Self::default()
        }
    }

    /// Whether an event is waiting for more lines (the caller may flush it after a quiet time).
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Bytes of text the pending event holds (0 when none is pending).
    pub fn pending_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.text.len())
    }

    /// Feeds one physical line (without its newline); returns the previous event when `line`
    /// starts a new one.
    pub fn push(&mut self, line: &str) -> Option<Joined> {
        let line = if self.config.strip_cr {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        if self.pending.is_some() && self.continues(line) {
            self.append(line);
            return None;
        }
        let done = self.start(line);
        self.append(line);
        done
    }

    /// [`Multiline::push`] for an owned line: a line that starts an event becomes the event's
    /// text without a copy (most lines do, so joining costs a shipper almost nothing).
    pub fn push_owned(&mut self, mut line: String) -> Option<Joined> {
        if self.config.strip_cr && line.ends_with('\r') {
            line.pop();
        }
        if self.pending.is_some() && self.continues(&line) {
            self.append(&line);
            return None;
        }
        let done = self.start(&line);
        if line.len() <= self.config.max_bytes && self.config.max_lines > 0 {
            if let Some(p) = self.pending.as_mut() {
                p.text = line;
                p.lines = 1;
                self.kept_lines = 1;
            }
        } else {
            self.append(&line);
        }
        done
    }

    /// Takes the pending event and resets the state for an event starting with `line`
    /// (whose text the caller then adds).
    fn start(&mut self, line: &str) -> Option<Joined> {
        let done = self.pending.take();
        self.after_python_traceback = false;
        self.in_python_traceback = line.starts_with("Traceback (most recent call last):");
        self.go = if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
            GoState::AfterPanic
        } else if is_goroutine_header(line) {
            GoState::InStack
        } else {
            GoState::None
        };
        self.kept_lines = 0;
        self.pending = Some(Joined {
            text: String::new(),
            lines: 0,
            truncated: false,
        });
        done
    }

    /// Returns the pending event, if any.
    pub fn flush(&mut self) -> Option<Joined> {
        self.in_python_traceback = false;
        self.after_python_traceback = false;
        self.go = GoState::None;
        self.pending.take()
    }

    fn append(&mut self, line: &str) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.lines += 1;
        let sep = usize::from(!p.text.is_empty() || self.kept_lines > 0);
        if self.kept_lines >= self.config.max_lines {
            p.truncated = true;
            return;
        }
        let room = self.config.max_bytes.saturating_sub(p.text.len() + sep);
        if sep == 1 && room == 0 {
            p.truncated = true;
            return;
        }
        if sep == 1 {
            p.text.push('\n');
        }
        if line.len() <= room {
            p.text.push_str(line);
        } else {
            let cut = crate::detect::floor_char_boundary(line, room);
            p.text.push_str(&line[..cut]);
            p.truncated = true;
        }
        self.kept_lines += 1;
    }

    fn continues(&mut self, line: &str) -> bool {
        let first = line.as_bytes().first().copied();
        if self.in_python_traceback {
            if matches!(first, Some(b' ' | b'\t')) || line.is_empty() {
                return true;
            }
            if line.starts_with("During handling of the above exception")
                || line.starts_with("The above exception was the direct cause")
                || line.starts_with("Traceback (most recent call last):")
            {
                return true;
            }
            // The closing `ValueError: boom` line ends the traceback.
            self.in_python_traceback = false;
            self.after_python_traceback = true;
            return true;
        }
        if self.after_python_traceback {
            if line.trim().is_empty() {
                return true;
            }
            self.after_python_traceback = false;
            if line.starts_with("During handling of the above exception")
                || line.starts_with("The above exception was the direct cause")
            {
                self.in_python_traceback = true;
                return true;
            }
        }
        if self.go != GoState::None {
            if line.trim().is_empty() {
                return true;
            }
            if is_goroutine_header(line) {
                self.go = GoState::InStack;
                return true;
            }
            if self.go == GoState::AfterPanic && line.starts_with("[signal ") {
                return true;
            }
            if self.go == GoState::InStack
                && (matches!(first, Some(b' ' | b'\t'))
                    || line.starts_with("created by ")
                    || is_go_function_line(line))
            {
                return true;
            }
            self.go = GoState::None;
        }
        match first {
            None => false,
            Some(b' ' | b'\t') => !line.trim().is_empty(),
            _ => {
                if line.starts_with("Traceback (most recent call last):") {
                    self.in_python_traceback = true;
                    return true;
                }
                if is_goroutine_header(line) {
                    self.go = GoState::InStack;
                    return true;
                }
                line.starts_with("at ")
                    || line.starts_with("Caused by:")
                    || line.starts_with("Suppressed:")
                    || line.starts_with("... ")
                    || is_java_exception_line(line)
            }
        }
    }
}

/// `main.main()`, `net/http.(*conn).serve(0xc000, {0x1, 0x2})`: a function in a Go stack (a
/// name without spaces, then its arguments in parentheses).
fn is_go_function_line(line: &str) -> bool {
    line.ends_with(')')
        && line
            .find('(')
            .is_some_and(|i| i > 0 && !line[..i].contains(' ') && !line[..i].contains(':'))
}

/// `goroutine 1 [running]:`, the header of one goroutine's stack in a Go crash report.
fn is_goroutine_header(line: &str) -> bool {
    line.strip_prefix("goroutine ").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(" [")
    })
}

/// `java.lang.IllegalStateException: boom`, `com.x.FooError`: a dotted class name ending in
/// Exception/Error/Throwable, then end, `:` or space.
fn is_java_exception_line(line: &str) -> bool {
    let name_end = line.find([':', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    name.contains('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'$'))
        && (name.ends_with("Exception") || name.ends_with("Error") || name.ends_with("Throwable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, config: MultilineConfig) -> Vec<Joined> {
        let mut m = Multiline::new(config);
        let mut out: Vec<Joined> = input.lines().filter_map(|l| m.push(l)).collect();
        out.extend(m.flush());
        out
    }

    fn texts(input: &str) -> Vec<String> {
        run(input, MultilineConfig::default())
            .into_iter()
            .map(|j| j.text)
            .collect()
    }

    #[test]
    fn owned_and_borrowed_lines_join_alike() {
        let input = "2024-01-01 ERROR boom\r\n\tat a.B(B.java:1)\nnext\nTraceback (most recent call last):\n  File \"x\"\nValueError: v\n\nlast";
        for config in [
            MultilineConfig::default(),
            MultilineConfig {
                max_bytes: 8,
                max_lines: 2,
                ..MultilineConfig::default()
            },
        ] {
            let mut a = Multiline::new(config);
            let mut b = Multiline::new(config);
            let mut got_a: Vec<Joined> = input.split('\n').filter_map(|l| a.push(l)).collect();
            let mut got_b: Vec<Joined> = input
                .split('\n')
                .filter_map(|l| b.push_owned(l.to_owned()))
                .collect();
            got_a.extend(a.flush());
            got_b.extend(b.flush());
            assert_eq!(got_a, got_b, "{config:?}");
        }
    }

    #[test]
    fn go_panics_are_one_event() {
        let input = "panic: runtime error: invalid memory address or nil pointer dereference\n\
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47f2a5]\n\
\n\
goroutine 1 [running]:\n\
main.(*Register).Total(0x0)\n\
\t/app/register.go:42 +0x25\n\
net/http.(*conn).serve(0xc000, {0x1, 0x2})\n\
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4\n\
created by main.main in goroutine 1\n\
\t/app/main.go:12 +0x1d\n\
2026-11-28T10:00:03Z INFO restarted";
        let out = texts(input);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert_eq!(out[0].lines().count(), 10);
        assert_eq!(out[1], "2026-11-28T10:00:03Z INFO restarted");
    }

    #[test]
    fn java() {
        let input = "2024-01-01 10:00:00 ERROR c.s.Pos: payment failed\n\
java.lang.IllegalStateException: terminal busy\n\
\tat com.shop.Pos.pay(Pos.java:10)\n\
\tat com.shop.Main.main(Main.java:3)\n\
Caused by: java.io.IOException: timeout\n\
\t... 2 more\n\
2024-01-01 10:00:01 INFO c.s.Pos: retrying";
        let t = texts(input);
        assert_eq!(t.len(), 2);
        assert!(t[0].starts_with("2024-01-01 10:00:00 ERROR"));
        assert!(t[0].ends_with("\t... 2 more"));
        assert_eq!(t[0].lines().count(), 6);
        assert_eq!(t[1], "2024-01-01 10:00:01 INFO c.s.Pos: retrying");
    }

    #[test]
    fn python() {
        let input = "ERROR:root:checkout failed\n\
Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    pay()\n\
ValueError: boom\n\
\n\
During handling of the above exception, another exception occurred:\n\
\n\
Traceback (most recent call last):\n  File \"a.py\", line 3\n\
KeyError: 'x'\n\
INFO:root:next";
        let t = texts(input);
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(t[0].ends_with("KeyError: 'x'"));
        assert_eq!(t[1], "INFO:root:next");
    }

    #[test]
    fn plain_lines_pass_through() {
        let t = texts("a\nb\n\nc");
        assert_eq!(t, vec!["a", "b", "", "c"]);
        assert!(texts("").is_empty());
    }

    #[test]
    fn caps() {
        let input = "head\n  1234567890\n  1234567890\n  1234567890\nnext";
        let out = run(
            input,
            MultilineConfig {
                max_bytes: 20,
                max_lines: 100,
                ..MultilineConfig::default()
            },
        );
        assert_eq!(out[0].text, "head\n  1234567890\n  ");
        assert!(out[0].truncated);
        assert_eq!(out[0].lines, 4);
        let out = run(
            input,
            MultilineConfig {
                max_bytes: 1000,
                max_lines: 2,
                ..MultilineConfig::default()
            },
        );
        assert_eq!(out[0].text, "head\n  1234567890");
        assert_eq!(out[0].lines, 4);
        assert!(out[0].truncated);
        assert_eq!(out[1].text, "next");
    }
}
