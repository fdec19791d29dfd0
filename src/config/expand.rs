//! `${VAR}` expansion in config string values; `$$` is a literal `$`. An unset variable is an error.

/// Expands `${NAME}` using `lookup`; returns the name of the first unset variable on failure.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| "unterminated ${ (add the closing })".to_string())?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name {name:?}"));
            }
            out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_reports_unset() {
        let env = |k: &str| (k == "KEY").then(|| "s3cr3t".to_string());
        assert_eq!(expand("${KEY}", &env).unwrap(), "s3cr3t");
        assert_eq!(expand("a-${KEY}-b $$5 $x", &env).unwrap(), "a-s3cr3t-b $5 $x");
        assert_eq!(expand("${NOPE}", &env).unwrap_err(), "NOPE");
        assert!(expand("${KEY", &env).is_err());
    }
}
