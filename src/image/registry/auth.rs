//! Parsing `WWW-Authenticate`, the header a registry sends with its 401 to
//! say how to log in (RFC 7235 section 4.1, grammar in section 2.1):
//!
//! ```text
//! WWW-Authenticate = 1#challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! ```
//!
//! The pitfall is the comma. It separates the auth-params of one challenge,
//! it separates challenges (`Basic realm="a", Bearer realm="b"`), and it
//! appears inside quoted values (`scope="repository:a/b:pull,push"`). So no
//! `split(',')`: we walk the header once, and after each comma look ahead: a
//! token followed by `=` is another parameter, a token followed by a space
//! or the end is the scheme of the next challenge. Quoted strings may hold
//! `\"` escapes (RFC 7230 section 3.2.6).

/// One challenge: `Bearer realm="...",service="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: schemes are case-insensitive (`bearer` = `Bearer`).
    pub scheme: String,
    /// Parameter names lower-cased (also case-insensitive), values as sent
    /// with quotes and escapes removed.
    pub params: Vec<(String, String)>,
    /// The other form a challenge may take (`Negotiate YII...==`); registries
    /// do not use it, but it must not derail the parse.
    pub token68: Option<String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 7230 `tchar`: what a token (scheme, parameter name) is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 7235 `token68` adds `/` (base64) to the token characters we accept.
fn is_token68_char(b: u8) -> bool {
    is_tchar(b) || b == b'/'
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// OWS/BWS: optional spaces and tabs.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    /// A quoted-string, the opening quote already seen: `\x` stands for `x`.
    fn quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parse one `WWW-Authenticate` header value into its challenges, in order.
/// (A response may also carry several such headers: parse each and chain.)
pub fn parse_www_authenticate(header: &str) -> Result<Vec<Challenge>, String> {
    let mut c = Cursor {
        s: header.as_bytes(),
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        // Empty list elements (", ,") are allowed by the list rule (RFC 7230 7).
        while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
            c.pos += 1;
        }
        if c.peek().is_none() {
            break;
        }
        let scheme = c.take_while(is_tchar);
        if scheme.is_empty() {
            return Err(format!(
                "unexpected '{}' at byte {} of {header:?}",
                c.peek().map(char::from).unwrap_or(' '),
                c.pos
            ));
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
            token68: None,
        };
        let mut first = true;
        loop {
            // Where the next challenge starts if what follows is not ours.
            let before = c.pos;
            c.skip_ws();
            if !first {
                if c.peek() != Some(b',') {
                    break;
                }
                while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
                    c.pos += 1;
                }
            }
            if c.peek().is_none() {
                break;
            }
            let name = c.take_while(is_token68_char);
            c.skip_ws();
            if name.is_empty() {
                return Err(format!(
                    "unexpected '{}' at byte {} of {header:?}",
                    c.peek().map(char::from).unwrap_or(' '),
                    c.pos
                ));
            }
            if c.peek() == Some(b'=') {
                // `name=value` or a token68 ending in '=' padding: count the
                // '='s and see whether a value follows.
                let eq_start = c.pos;
                let eqs = c.take_while(|b| b == b'=');
                c.skip_ws();
                let value_follows = eqs.len() == 1
                    && c.peek()
                        .is_some_and(|b| b != b',' && b != b' ' && b != b'\t');
                if value_follows {
                    let value = if c.peek() == Some(b'"') {
                        c.quoted()?
                    } else {
                        // Lenient: RFC says token, but registries have been
                        // seen sending realm=https://host/token unquoted.
                        c.take_while(|b| b != b',' && b != b' ' && b != b'\t')
                    };
                    challenge.params.push((name.to_ascii_lowercase(), value));
                } else if first {
                    challenge.token68 = Some(format!(
                        "{name}{}",
                        String::from_utf8_lossy(&c.s[eq_start..eq_start + eqs.len()])
                    ));
                    first = false;
                    // A token68 is the challenge's only content.
                    continue;
                } else {
                    return Err(format!("parameter {name:?} has no value in {header:?}"));
                }
            } else if first && matches!(c.peek(), None | Some(b',')) {
                challenge.token68 = Some(name);
            } else {
                // A token not followed by '=': the next challenge's scheme.
                c.pos = before;
                break;
            }
            first = false;
        }
        challenges.push(challenge);
    }
    Ok(challenges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Challenge {
        let mut all = parse_www_authenticate(header).unwrap();
        assert_eq!(all.len(), 1, "{header}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn docker_hub() {
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/ubuntu:pull"));
    }

    #[test]
    fn ghcr_quay_gcr() {
        let c = one(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
        );
        assert_eq!(c.param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(c.param("scope"), Some("repository:user/image:pull"));
        let c = one(r#"Bearer realm="https://quay.io/v2/auth",service="quay.io""#);
        assert_eq!(c.param("service"), Some("quay.io"));
        assert_eq!(c.param("scope"), None);
        let c = one(
            r#"Bearer realm="https://gcr.io/v2/token",service="gcr.io",scope="repository:google-containers/pause:pull""#,
        );
        assert_eq!(c.param("realm"), Some("https://gcr.io/v2/token"));
    }

    #[test]
    fn basic_realms() {
        // ECR and Harbor (when not doing tokens), distribution with htpasswd.
        let c = one(
            r#"Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#,
        );
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("service"), Some("ecr.amazonaws.com"));
        let c = one(r#"Basic realm="harbor""#);
        assert_eq!(c.param("realm"), Some("harbor"));
        let c = one(r#"Basic realm="Registry Realm""#);
        assert_eq!(c.param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn commas_and_escapes_inside_values() {
        let c = one(
            r#"Bearer realm="https://r.example/token",scope="repository:a/b:pull,push",service="r.example""#,
        );
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(
            c.param("service"),
            Some("r.example"),
            "the comma did not end the challenge"
        );
        let c = one(r#"Bearer realm="say \"hi\", ok\\",error="insufficient_scope""#);
        assert_eq!(c.param("realm"), Some(r#"say "hi", ok\"#));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn spacing_case_and_unquoted_values() {
        let c = one(r#"  bearer   Realm = "https://a/t" ,  service=reg.example ,scope="x""#);
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://a/t"));
        assert_eq!(c.param("service"), Some("reg.example"));
        assert_eq!(c.param("scope"), Some("x"));
        let c = one("BEARER realm=https://auth.example/token,service=auth.example");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("auth.example"));
    }

    #[test]
    fn several_challenges_in_one_header() {
        let all = parse_www_authenticate(
            r#"Basic realm="a, b", Bearer realm="https://t/x",service="s", Negotiate YIIabc==, NTLM"#,
        )
        .unwrap();
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "negotiate", "ntlm"]);
        assert_eq!(all[0].param("realm"), Some("a, b"));
        assert_eq!(all[1].param("service"), Some("s"));
        assert_eq!(all[2].token68.as_deref(), Some("YIIabc=="));
        assert!(all[3].params.is_empty() && all[3].token68.is_none());
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        for bad in [
            r#"Bearer realm="never closed"#,
            r#"Bearer realm="x", ="y""#,
            r#"Bearer realm="x", scope="#,
            "=",
            r#"Bearer realm="x\"#,
        ] {
            assert!(parse_www_authenticate(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_www_authenticate("").unwrap(), vec![]);
    }
}
