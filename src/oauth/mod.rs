//! OAuth2 for the cloud mailboxes (Microsoft 365, Google, any provider with a device
//! grant): the SASL mechanisms that carry a token (XOAUTH2, and OAUTHBEARER of RFC 7628),
//! the provider presets, the approval by a person (`reqmail oauth login NAME`, the
//! device authorization grant of RFC 8628, in [`device`]), and the tokens kept between
//! runs and refreshed before they expire ([`tokens`]).
//!
//! Secrets (refresh and access tokens, the client secret) live in [`Secret`], whose
//! `Debug` and `Display` print nothing of them: no log line or error message can carry one.

pub mod browser;
pub mod device;
pub mod identity;
pub mod tokens;

pub use crate::config::oauth::endpoints;
pub use crate::config::oauth::Approval;
pub use crate::config::oauth::Endpoints;
pub use crate::config::oauth::Mechanism;
pub use crate::config::oauth::Secret;

/// The command that approves `name` again, with the configuration file when one was given.
pub fn login_command(name: &str, config_file: Option<&std::path::Path>) -> String {
    match config_file {
        Some(file) => format!("reqmail --config {} oauth login {name}", file.display()),
        None => format!("reqmail oauth login {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OAuthConfig;

    #[test]
    fn sasl_initial_responses_follow_the_mechanisms() {
        let token = Secret::new("tok".into());
        assert_eq!(Mechanism::Xoauth2.initial_response("help@x.test", "imap.x.test", 993, &token), b"user=help@x.test\x01auth=Bearer tok\x01\x01");
        assert_eq!(
            Mechanism::Oauthbearer.initial_response("a,b=c@x.test", "imap.x.test", 993, &token),
            b"n,a=a=2Cb=3Dc@x.test,\x01host=imap.x.test\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(Mechanism::Xoauth2.initial_response_base64("u", "h", 1, &token).expose(), "dXNlcj11AWF1dGg9QmVhcmVyIHRvawEB");
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("refresh-123".into());
        assert!(!format!("{secret} {secret:?}").contains("refresh-123"));
    }

    #[test]
    fn presets_and_overrides() {
        let config: OAuthConfig = toml::from_str("provider = \"microsoft\"\nclient_id = \"app\"\ntenant = \"contoso.com\"").unwrap();
        let microsoft = endpoints(&config).unwrap();
        assert!(microsoft.token_url.contains("/contoso.com/oauth2/v2.0/token"));
        assert!(matches!(microsoft.approval, Approval::Device { .. }));
        let google: OAuthConfig = toml::from_str("provider = \"google\"\nclient_id = \"app\"").unwrap();
        assert!(matches!(endpoints(&google).unwrap().approval, Approval::Browser { .. }), "Google's device grant has no mail scope");
        assert!(microsoft.scopes.iter().any(|scope| scope == "offline_access"));
        let generic: OAuthConfig = toml::from_str("provider = \"generic\"\nclient_id = \"app\"").unwrap();
        assert!(endpoints(&generic).unwrap_err().contains("device_authorization_url"));
        let plain: OAuthConfig = toml::from_str(
            "provider = \"generic\"\nclient_id = \"app\"\ndevice_authorization_url = \"http://idp.test/d\"\ntoken_url = \"https://idp.test/t\"\nscopes = [\"mail\"]",
        )
        .unwrap();
        assert!(endpoints(&plain).unwrap_err().contains("https://"));
    }
}
