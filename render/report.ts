// mailstack-report on the mail host (render/scripts/incident-report.sh): a redacted first look for
// an incident responder (README, "Runbooks").
import { BIN_DIR } from "./backup";
import { MAILCOW_DIR } from "./mailcow";
import { renderScript } from "./shell";
import { MAILCOW_METRICS_FILE, type HostFile } from "./updates";

export const REPORT_TOOL = `${BIN_DIR}/mailstack-report`;

export function incidentReportTool(
  paths: { mailcowDir: string; backupTool: string; updateMetrics: string } = {
    mailcowDir: MAILCOW_DIR,
    backupTool: `${BIN_DIR}/mailstack-backup`,
    updateMetrics: MAILCOW_METRICS_FILE,
  },
): string {
  return renderScript("incident-report", {
    MAILCOW_DIR: paths.mailcowDir,
    BACKUP_TOOL: paths.backupTool,
    UPDATE_METRICS: paths.updateMetrics,
  });
}

export function incidentReportFiles(): HostFile[] {
  return [{ path: REPORT_TOOL, mode: "0755", content: incidentReportTool() }];
}
