//! What is kept beside a stored file's bytes (`TOKEN.meta`): who uploaded it, its name and
//! type, its size and when it expires. One `key value` pair a line, text values
//! percent-encoded, so that nothing a client sent can break a line. Pure.

use crate::hub::HostedFile;

const MAGIC: &str = "snak-file 1";

fn encode_text(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn decode_text(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The text of `f`'s meta file (its token is in the file's name, not in the text).
pub fn encode(f: &HostedFile) -> String {
    let mut s = String::from(MAGIC);
    for (key, value) in [
        ("account", &*f.account),
        ("name", &*f.name),
        ("type", &*f.content_type),
    ] {
        s.push('\n');
        s.push_str(key);
        s.push(' ');
        encode_text(value, &mut s);
    }
    s.push_str(&format!(
        "\ninline {}\nsize {}\ncreated {}\nexpires {}\n",
        u8::from(f.inline),
        f.size,
        f.created,
        f.expires
    ));
    s
}

/// Reads a meta file's text back; None if it is not one this version wrote whole.
pub fn decode(token: u128, text: &str) -> Option<HostedFile> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let (mut account, mut name, mut content_type) = (None, None, None);
    let (mut inline, mut size, mut created, mut expires) = (None, None, None, None);
    for line in lines {
        let (key, value) = line.split_once(' ')?;
        match key {
            "account" => account = Some(decode_text(value)?),
            "name" => name = Some(decode_text(value)?),
            "type" => content_type = Some(decode_text(value)?),
            "inline" => inline = Some(value == "1"),
            "size" => size = Some(value.parse().ok()?),
            "created" => created = Some(value.parse().ok()?),
            "expires" => expires = Some(value.parse().ok()?),
            _ => {}
        }
    }
    Some(HostedFile {
        token,
        account: account?.into(),
        name: name?.into(),
        content_type: content_type?.into(),
        inline: inline?,
        size: size?,
        created: created?,
        expires: expires?,
    })
}

/// A stored file's token from a file name (`32 hex digits` + `suffix`).
pub fn token_of(file_name: &str, suffix: &str) -> Option<u128> {
    let hex = file_name.strip_suffix(suffix)?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
        .filter(|&t| t != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_hostile_text() {
        let f = HostedFile {
            token: 7,
            account: "alice".into(),
            name: "a b\n%c\u{7}é.txt".into(),
            content_type: "text/plain; charset=utf-8".into(),
            inline: true,
            size: 1234,
            created: 10,
            expires: 20,
        };
        let text = encode(&f);
        assert_eq!(text.lines().count(), 8, "{text}");
        assert_eq!(decode(7, &text), Some(f));
    }

    #[test]
    fn broken_or_foreign_text_is_refused() {
        assert_eq!(decode(1, ""), None);
        assert_eq!(decode(1, "snak-file 2\n"), None);
        assert_eq!(decode(1, "snak-file 1\naccount a\nname n\n"), None);
        assert_eq!(
            decode(1, "snak-file 1\naccount %zz\nname n\ntype t/t\ninline 0\nsize 1\ncreated 1\nexpires 2\n"),
            None
        );
    }

    #[test]
    fn tokens_from_names() {
        let t = format!("{:032x}", 0xabcu128);
        assert_eq!(token_of(&format!("{t}.meta"), ".meta"), Some(0xabc));
        assert_eq!(token_of(&format!("{t}.data"), ".meta"), None);
        assert_eq!(token_of("short.meta", ".meta"), None);
        assert_eq!(token_of(&format!("{}.meta", "0".repeat(32)), ".meta"), None);
    }
}
