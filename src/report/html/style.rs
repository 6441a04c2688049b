//! The report page's look: the palette (one colour per status, defined once) and the
//! stylesheet, with a rule per status generated from it.

use std::fmt::Write as _;

use super::STATUSES;
use crate::report::record::TaskStatus;

/// The fill of a status: the one place the palette is defined.
fn status_colour(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Ok => "#2e9e4f",
        TaskStatus::Failed => "#d64545",
        TaskStatus::TimedOut => "#f08c2e",
        TaskStatus::Interrupted => "#8a8f98",
        TaskStatus::Fresh => "#b8c7da",
        TaskStatus::Restored => "#2a8fa8",
        TaskStatus::Blocked => "#5a5a5a",
        TaskStatus::Pending => "#ffffff",
        TaskStatus::Edited => "#b07cc6",
    }
}

/// The stylesheet, with one rule per status generated from [`status_colour`].
pub(super) fn style(page: &mut String) {
    page.push_str(
        "<style>\n\
         body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
         margin:24px;color:#1d2330;background:#fff;font-size:14px}\n\
         h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:22px 0 8px}\n\
         .meta{color:#4a5263;margin:2px 0}.meta b{color:#1d2330}\n\
         .counts{margin:10px 0;display:flex;flex-wrap:wrap;gap:6px}\n\
         .chip{border:1px solid #ccd3de;border-radius:12px;padding:2px 10px;background:#f5f7fa}\n\
         .chip.bad{border-color:#d64545;background:#fdecec;color:#9b1c1c}\n\
         .chip.warn{border-color:#f08c2e;background:#fff3e6}\n\
         .interrupted{display:inline-block;background:#8a8f98;color:#fff;\
         border-radius:4px;padding:1px 8px;font-weight:600}\n\
         .legend{display:flex;flex-wrap:wrap;gap:14px;margin:0 0 8px;color:#4a5263}\n\
         .legend span{display:inline-flex;align-items:center;gap:5px}\n\
         .swatch{display:inline-block;width:14px;height:12px;border:1px solid #0003;\
         vertical-align:middle;box-sizing:border-box}\n\
         .swatch.critical{background:#fff;border:2.5px solid #111}\n\
         .swatch.attempt{background:linear-gradient(90deg,#d64545 0 45%,#fff 45% 55%,#2e9e4f 55%)}\n\
         svg text{font-size:12px;fill:#1d2330}\n\
         svg .tick{fill:#6b7385;font-size:11px}svg .grid{stroke:#e3e7ee}\n\
         svg .band{fill:#eef1f6}svg .group-label{font-weight:600}\n\
         svg .note{fill:#6b7385;font-size:11px}\n\
         rect.bar:hover,rect.attempt:hover{opacity:.75}\n\
         rect.bar.retried{fill-opacity:.3}\n\
         rect.status-pending{stroke:#777;stroke-dasharray:3 2}\n\
         rect.status-blocked{stroke:#444}\n\
         rect.critical{stroke:#111;stroke-width:2.5}\n\
         rect.queued{fill:url(#queued);stroke:#0004}\n\
         .swatch.queued{background:repeating-linear-gradient(135deg,#fff 0 2px,#8a94a6 2px 4px)}\n\
         table{border-collapse:collapse;width:100%;font-size:13px}\n\
         th,td{border-bottom:1px solid #e3e7ee;padding:4px 8px;text-align:left;vertical-align:top}\n\
         thead th{background:#f5f7fa;position:sticky;top:0}\n\
         tr.group th{background:#eef1f6;font-weight:600}\n\
         td.num,td.status{text-align:right;white-space:nowrap}td.status{text-align:left}\n\
         code{font-size:12px;word-break:break-all}\n\
         .pass{color:#1f7a3a}.fail{color:#b42318}.soft{color:#b4610e}\n\
         .muted{color:#6b7385}.crit{font-size:11px;border:1px solid #111;border-radius:3px;\
         padding:0 4px;margin-left:4px}\n\
         ul.plain{margin:0;padding:0;list-style:none}\n",
    );
    for status in STATUSES {
        let name = status.as_str();
        let colour = status_colour(status);
        let background = match status {
            TaskStatus::Blocked => {
                "repeating-linear-gradient(45deg,#5a5a5a 0 2px,#d0d0d0 2px 5px)".to_owned()
            }
            _ => colour.to_owned(),
        };
        let fill = match status {
            TaskStatus::Blocked => "url(#hatch)",
            _ => colour,
        };
        let _ = writeln!(
            page,
            "rect.status-{name}{{fill:{fill}}}.swatch.status-{name}{{background:{background}}}"
        );
    }
    page.push_str("</style>\n");
}
