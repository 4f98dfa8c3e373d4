//! Handing a quarantined message to the upstream with its original envelope.

use crate::reply::Reply;
use crate::runtime::Runtime;
use crate::smtp::upstream::Upstream;
use crate::spool::Spool;

/// Sends entry `id` to the upstream of the listener it arrived on (or the first listener), and
/// deletes it from quarantine once the upstream accepted it for at least one recipient.
pub async fn release(rt: &Runtime, id: &str) -> Result<Reply, String> {
    let (entry, message) = rt.quarantine.get(id).map_err(|e| format!("{id}: {e}"))?;
    let listener = rt
        .session
        .listeners
        .get(&entry.listener)
        .or_else(|| {
            rt.config
                .listeners
                .first()
                .and_then(|l| rt.session.listeners.get(&l.name))
        })
        .ok_or("no listener configured")?;
    let mut up = Upstream::connect(listener.upstream.clone())
        .await
        .map_err(|e| e.to_string())?;
    let smtputf8 = !entry.mail_from.is_ascii() || entry.rcpts.iter().any(|r| !r.is_ascii());
    let mut line = format!("MAIL FROM:<{}>", entry.mail_from);
    if smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if let Some(reply) = up.mail(&line).await.map_err(|e| e.to_string())? {
        if !reply.is_positive() {
            return Err(format!("upstream refused the sender: {reply}"));
        }
    }
    let mut accepted = 0;
    for rcpt in &entry.rcpts {
        let reply = up
            .command(&format!("RCPT TO:<{rcpt}>"), "RCPT")
            .await
            .map_err(|e| e.to_string())?;
        if let Some(refusal) = up.take_mail_refusal() {
            return Err(format!("upstream refused the sender: {refusal}"));
        }
        if reply.is_positive() {
            accepted += 1;
        } else {
            eprintln!("{rcpt}: {reply}");
        }
    }
    if accepted == 0 {
        return Err("upstream refused every recipient".into());
    }
    let (reply, _) = up
        .send_message(&[], 0, &Spool::from_bytes(message))
        .await
        .map_err(|e| e.to_string())?;
    up.quit().await;
    if !reply.is_positive() {
        return Err(format!("upstream refused the message: {reply}"));
    }
    rt.quarantine
        .delete(id)
        .map_err(|e| format!("released, but cannot delete {id}: {e}"))?;
    Ok(reply)
}
