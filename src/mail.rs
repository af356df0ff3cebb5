//! Outgoing e-mail over SMTP (`--smtp-url`, `--smtp-from`) with lettre, and the two messages the
//! product sends: an invitation and a password reset, each as plain text and HTML.

use chrono::{DateTime, Utc};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::error::{Error, Result};

/// A message before it is addressed.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp://user:pass@host:port` (plain, or `?tls=required` for STARTTLS) or `smtps://…`
    /// (TLS from the start), as lettre reads them.
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("--smtp-url is not usable: {e}"))?
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("--smtp-from {from:?} is not an address: {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, to: &str, mail: Mail) -> Result<()> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| Error::BadRequest(format!("cannot send mail to {to:?}: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| Error::Internal(format!("building a message failed: {e}")))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| Error::Internal(format!("sending mail failed: {e}")))?;
        Ok(())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn html_page(title: &str, body: &str, url: &str, action: &str, footer: &str) -> String {
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <h2>{}</h2><p>{}</p><p><a href=\"{}\" style=\"display:inline-block;padding:8px 16px;\
         background:#2563eb;color:#fff;text-decoration:none;border-radius:4px\">{}</a></p>\
         <p style=\"color:#555;font-size:13px\">{}<br>{}</p></body></html>",
        escape(title),
        escape(body),
        escape(url),
        escape(action),
        escape(footer),
        escape(url),
    )
}

/// "You are invited": the link lets the invitee pick a username and password.
pub fn invitation(url: &str, inviter: &str, role: &str, expires_at: DateTime<Utc>) -> Mail {
    let body = format!("{inviter} invited you to Switchboard as {role}.");
    let footer = format!("The link works once, until {}.", when(expires_at));
    Mail {
        subject: "You are invited to Switchboard".into(),
        text: format!(
            "{body}\n\nChoose a username and password here:\n{url}\n\n{footer}\n\
             If you did not expect this, ignore this message.\n"
        ),
        html: html_page(
            "You are invited to Switchboard",
            &body,
            url,
            "Accept the invitation",
            &footer,
        ),
    }
}

/// "Reset your password": the link sets a new one and ends every other session.
pub fn password_reset(url: &str, username: &str, expires_at: DateTime<Utc>) -> Mail {
    let body =
        format!("Someone asked to reset the password of the Switchboard account {username}.");
    let footer = format!(
        "The link works once, until {}. If it was not you, ignore this message: your password stays as it is.",
        when(expires_at)
    );
    Mail {
        subject: "Reset your Switchboard password".into(),
        text: format!("{body}\n\nSet a new password here:\n{url}\n\n{footer}\n"),
        html: html_page(
            "Reset your password",
            &body,
            url,
            "Set a new password",
            &footer,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_has_the_link() {
        let m = invitation("https://x/invite#t=a&b", "<ada>", "admin", Utc::now());
        assert!(m.text.contains("https://x/invite#t=a&b"));
        assert!(m.html.contains("&lt;ada&gt;"));
        assert!(m.html.contains("t=a&amp;b"));
        assert!(!m.html.contains("<ada>"));
    }
}
