// The one SHA-256 helper: resource triggers (change detection), content-derived ids and names.
import { createHash, type BinaryLike } from "node:crypto";

/** Lower-case hex SHA-256 of `data` (strings as UTF-8). */
export function sha256Hex(data: BinaryLike): string {
  return createHash("sha256").update(data).digest("hex");
}
