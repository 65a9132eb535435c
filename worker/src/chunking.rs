//! Cutting documents into chunks: overlapping windows of characters, cut at
//! white space. Ingest jobs chunk documents with it; graph extraction cuts
//! long contexts into windows with it too.

/// Splits `text` into windows of at most `size` characters that overlap by
/// about `overlap`, cut at white space where there is some. A text that
/// fits is one window.
pub fn split(text: &str, size: usize, overlap: usize) -> Vec<&str> {
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    // Byte offsets of every char, plus the end.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let chars = bounds.len() - 1;
    if chars <= size {
        return vec![text];
    }
    let mut windows = Vec::new();
    let mut start = 0;
    loop {
        let mut end = (start + size).min(chars);
        if end < chars {
            // Back up to white space in the last fifth of the window.
            let floor = end - size / 5;
            if let Some(cut) = (floor..end)
                .rev()
                .find(|&c| text[bounds[c]..].starts_with(char::is_whitespace))
            {
                end = cut;
            }
        }
        windows.push(&text[bounds[start]..bounds[end]]);
        if end == chars {
            return windows;
        }
        start = end.saturating_sub(overlap).max(start + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_and_cover_the_text() {
        let text: String = (0..500).map(|i| format!("w{i} ")).collect();
        let windows = split(&text, 300, 50);
        assert!(windows.len() > 1);
        assert!(windows.iter().all(|w| w.chars().count() <= 300));
        assert!(text.starts_with(windows[0]));
        assert!(text.ends_with(windows.last().unwrap()));
        for pair in windows.windows(2) {
            // The next window starts inside the previous one.
            let tail = &pair[0][pair[0].len() - 20..];
            assert!(pair[1].contains(tail.trim()), "{tail:?}");
        }
        assert_eq!(split("short", 300, 50), ["short"]);
        // Multi-byte text is cut on char boundaries.
        let greek = "αβγδε ".repeat(100);
        assert!(split(&greek, 64, 8).len() > 5);
    }
}
