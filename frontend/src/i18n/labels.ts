// Names of values the server sends (roles, statuses, …) in the current language; an unknown value
// is shown as it is.
import { hasKey, tKey } from './index';

function named(prefix: string, value: string): string {
  const key = `${prefix}${value}`;
  return hasKey(key) ? tKey(key) : value;
}

/** "admin" / "管理员". */
export const roleName = (role: string) => named('role.', role);
/** A backup's trigger: "manual", "scheduled", "command line". */
export const triggerName = (trigger: string) => named('backup.trigger.', trigger);
/** A backup's status: "running", "completed", "failed". */
export const backupStatusName = (status: string) => named('backup.status.', status);
/** Why a transfer stopped (`limit_reached` → "download limit reached"), else the words of the code. */
export function reasonText(reason: string): string {
  const key = `transfer.reason.${reason}`;
  return hasKey(key) ? tKey(key) : reason.replace(/_/g, ' ');
}
