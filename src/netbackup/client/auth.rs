//! The `Authorization` value of a request: the API key, or a login token renewed before it expires.

use super::Client;
use crate::config::{Login, Secret};
use crate::netbackup::models::ErrorEnvelope;
use crate::netbackup::ApiError;
use std::time::Duration;

impl Client {
    /// The `Authorization` value: the API key, or a login token (logging in when there is none or it is about to
    /// expire: see [`renew_after`]).
    pub(super) fn authorization(&self) -> Result<Secret, ApiError> {
        let Some(login) = &self.login else { return Ok(self.api_key.clone()) };
        let mut token = self.token.lock();
        if let Some((t, renew_at)) = token.as_ref() {
            if std::time::Instant::now() < *renew_at {
                return Ok(t.clone());
            }
        }
        let (user, password, domain, domain_type) = match login {
            Login::Password { username, password, domain, domain_type } => {
                (username.as_str(), password.expose(), domain.as_deref(), domain_type.as_deref())
            }
            Login::ApiKey => ("apikey", self.api_key.expose(), Some("vrts.apikey"), Some("vx")),
        };
        let mut body = serde_json::json!({"userName": user, "password": password});
        if let Some(d) = domain {
            body["domainName"] = d.into();
        }
        if let Some(t) = domain_type {
            body["domainType"] = t.into();
        }
        let started = std::time::Instant::now();
        let url = format!("{}/login", self.base);
        let resp = self
            .agent
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(body.to_string());
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.record("/login", None, started.elapsed());
                return Err(super::transport_error("/login", &e));
            }
        };
        let status = resp.status().as_u16();
        self.record("/login", Some(status), started.elapsed());
        let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default();
        if status == 401 {
            return Err(ApiError::Unauthorized {
                path: "/login".into(),
                message: "login refused; check username/password (or the API key) and its domain".into(),
            });
        }
        #[derive(serde::Deserialize)]
        struct LoginResponse {
            token: String,
            #[serde(default)]
            validity: Option<u64>,
        }
        let parsed: LoginResponse = match (status, serde_json::from_str(&text)) {
            (200 | 201, Ok(p)) => p,
            _ => {
                let env: ErrorEnvelope = serde_json::from_str(&text).unwrap_or_default();
                return Err(ApiError::Status {
                    path: "/login".into(),
                    status,
                    code: env.error_code,
                    message: env.error_message,
                    retry_after: None,
                });
            }
        };
        let validity = Duration::from_secs(parsed.validity.unwrap_or(7200));
        let secret = Secret::new(parsed.token);
        // Counted from when the request left: the server's clock for the token started no later than that.
        *token = Some((secret.clone(), started + renew_after(validity)));
        Ok(secret)
    }
}

/// How long a token is used before it is renewed: until a tenth of its validity is left, or half of it, or a
/// minute, whichever leaves the most time, so that short-lived tokens (seconds to minutes) are renewed well before
/// they expire instead of after a 401. A validity of 0 renews at every request.
pub(super) fn renew_after(validity: Duration) -> Duration {
    let margin = (validity / 10).max((validity / 2).min(Duration::from_secs(60)));
    validity.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::renew_after;
    use std::time::Duration;

    #[test]
    fn tokens_are_renewed_well_before_they_expire() {
        let s = Duration::from_secs;
        assert_eq!(renew_after(s(86_400)), s(77_760)); // 90 %
        assert_eq!(renew_after(s(600)), s(540)); // a minute left
        assert_eq!(renew_after(s(60)), s(30)); // half
        assert_eq!(renew_after(s(2)), s(1));
        assert_eq!(renew_after(s(0)), s(0));
    }
}
