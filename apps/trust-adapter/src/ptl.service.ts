/**
 * PTL import, streamed: the CSV is parsed row by row from the request and sent to the exchange in
 * batches, so a 250,000-row file is never held in memory at once. The header is checked before
 * anything is applied (a file lacking a required column changes nothing); each bad row is
 * rejected with its row number and every reason, and the good rows are applied.
 *
 * A snapshot closes the entries the file does not list. A rejected row is listed: its pathway
 * (when its identifier can be read) is kept as it was, neither updated nor closed. A snapshot that
 * cannot be trusted to be the whole list closes nothing and says why (`closingWithheld`): one
 * whose CSV broke part-way, or one with more than PTL_SNAPSHOT_MAX_REJECTED_PERCENT of its rows
 * rejected (see AdapterConfig).
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SnapshotCompleteDto, SnapshotResult, WaitingListColumns } from '@app/contracts';
import { Clock, PtlRow, PtlRowValidation, missingPtlColumns, ptlRowReader } from '@app/domain';
import { AppError, CLOCK, MetricsService, errorMessage } from '@app/platform';
import { Readable } from 'node:stream';
import { AdapterConfig } from './config';
import { csvRecords, describeCsvError } from './csv-records';
import { ExchangeClient, ExchangeHttpError } from './exchange.client';

export interface PtlImportResult {
  mode: 'snapshot' | 'delta';
  accepted: number;
  rejected: number;
  closed: number;
  deferred: number;
  rejectedRows: Array<{ row: number; reasons: string[] }>;
  /** A snapshot that closed nothing because the file could not be trusted to be the whole list: why. */
  closingWithheld?: string;
}

/**
 * Rows per batch to the exchange. Columnar batches are cheap to check and store; up to
 * `IN_FLIGHT` of them are applied at once (Postgres inserting one while it plans and the exchange
 * reads the next, on two cores) while the next is read and checked here. Smaller batches keep the
 * two sides overlapping for more of the file; memory holds at most IN_FLIGHT + 1 batches.
 */
const BATCH = 2000;
const IN_FLIGHT = 2;
/** The response lists at most this many rejected rows in full; the count is always exact. */
const MAX_LISTED_REJECTIONS = 10_000;

/** `YYYY-MM-DD` of a date-only value (UTC midnight): cheaper than slicing toISOString, twice a row. */
function day(d: Date): string {
  const y = d.getUTCFullYear();
  if (y < 1000 || y > 9999) return d.toISOString().slice(0, 10);
  const m = d.getUTCMonth() + 1;
  const dd = d.getUTCDate();
  return `${y}-${m < 10 ? '0' : ''}${m}-${dd < 10 ? '0' : ''}${dd}`;
}

/** Good rows gathered column by column, as the exchange takes them: no object per row on either side. */
export function emptyColumns(): WaitingListColumns {
  return {
    rowNumber: [], pathwayId: [], nhsNumber: [], birthDate: [], tfc: [], appointmentType: [], rttStart: [], priority: [], mobile: [], postcode: [],
    sex: [], currentAppointmentStart: [], currentAppointmentId: [], offerConsent: [], icsWideConsent: [], acceptableSites: [], maxTravelKm: [], unavailable: [],
  };
}

// Most rows share these: one frozen array each (the batch is only serialised) rather than one per row.
const ANY_SITE: string[] = Object.freeze(['ANY']) as unknown as string[];
const NO_PERIODS: Array<{ from: string; to: string }> = Object.freeze([]) as unknown as Array<{ from: string; to: string }>;

export function pushRow(c: WaitingListColumns, rowNumber: number, r: PtlRow): void {
  c.rowNumber.push(rowNumber);
  c.pathwayId.push(r.pathwayId);
  c.nhsNumber.push(r.nhsNumber);
  c.birthDate.push(day(r.birthDate));
  c.tfc.push(r.tfc);
  c.appointmentType.push(r.appointmentType);
  c.rttStart.push(day(r.rttStart));
  c.priority.push(r.priority);
  c.mobile.push(r.mobile);
  c.postcode.push(r.postcode);
  c.sex.push(r.sex);
  c.currentAppointmentStart.push(r.currentAppointmentStart ? r.currentAppointmentStart.toISOString() : null);
  c.currentAppointmentId.push(r.currentAppointmentId);
  c.offerConsent.push(r.offerConsent);
  c.icsWideConsent.push(r.icsWideConsent);
  c.acceptableSites.push(r.acceptableSites === 'ANY' ? ANY_SITE : r.acceptableSites);
  c.maxTravelKm.push(r.maxTravelKm);
  c.unavailable.push(r.unavailable.length === 0 ? NO_PERIODS : r.unavailable.map((u) => ({ from: u.from.toISOString(), to: u.to.toISOString() })));
}

@Injectable()
export class PtlService {
  private readonly logger = new Logger('ptl');

  constructor(
    private readonly exchange: ExchangeClient,
    private readonly config: AdapterConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  async import(body: Readable, mode: 'snapshot' | 'delta'): Promise<PtlImportResult> {
    const result: PtlImportResult = { mode, accepted: 0, rejected: 0, closed: 0, deferred: 0, rejectedRows: [] };
    let snapshotId: string | undefined;
    // Started by the first batch sent (or, for a file of rejected rows alone, when completing it), once.
    let snapshotStarted: Promise<string> | undefined;
    // The exchange runs one snapshot of a trust at a time: while another is being applied (the same
    // file sent again after a timeout, say) this one is refused before any row of it is applied.
    const startSnapshot = () =>
      (snapshotStarted ??= this.exchange.call<{ snapshotId: string }>('POST', '/waiting-list/snapshots').then((r) => r.snapshotId, (e: unknown) => {
        throw SnapshotRefused.from(e) ?? e;
      }));
    // Pathways of the snapshot's rejected rows: listed in the file, so not to be closed. Sent only
    // when the snapshot closes anything, so then at most PTL_SNAPSHOT_MAX_REJECTED_PERCENT of its
    // rows; even a file of rejected rows holds no more here than a good file holds in readPtlRows.
    const rejectedPathways = new Set<string>();
    let batch = emptyColumns();
    const send = async (columns: WaitingListColumns) => {
      if (mode === 'snapshot') snapshotId = await startSnapshot();
      try {
        await this.exchange.call('POST', '/waiting-list', { mode, snapshotId, columns });
      } catch (e) {
        throw SnapshotRefused.from(e) ?? (e instanceof ExchangeHttpError && e.permanent ? new BatchRefused(columns.rowNumber, e) : e);
      }
      result.accepted += columns.rowNumber.length;
    };
    // Batches being applied at the exchange, oldest first, each with the patients it updates.
    const sending: Array<{ done: Promise<void>; patients: Set<string> }> = [];
    const flush = async () => {
      if (batch.rowNumber.length === 0) return;
      const columns = batch;
      batch = emptyColumns();
      // Two batches updating one patient at once could commit out of order (the earlier row's
      // contact details winning over the later's) or deadlock on the patient rows: such a batch
      // waits for the one before it. Batches never share a pathway (a repeat is rejected above).
      const shares = (patients: Set<string>) => columns.nhsNumber.some((n) => patients.has(n));
      while (sending.length >= IN_FLIGHT || sending.some((s) => shares(s.patients))) await (sending.shift() as { done: Promise<void> }).done;
      const done = send(columns);
      // Surfaced when awaited (above, or once the file is read); never left unhandled meanwhile.
      done.catch(() => undefined);
      sending.push({ done, patients: new Set(columns.nhsNumber) });
    };
    const drain = async () => {
      while (sending.length > 0) await (sending.shift() as { done: Promise<void> }).done;
    };
    let rows = 0;
    let broken = false;
    try {
      for await (const r of readPtlRows(body, this.clock.now())) {
        rows++;
        if (r.ok) {
          pushRow(batch, r.rowNumber, r.row);
          if (batch.rowNumber.length >= BATCH) await flush();
          continue;
        }
        result.rejected++;
        broken ||= r.broken === true;
        if (mode === 'snapshot' && r.pathwayId !== undefined) rejectedPathways.add(r.pathwayId);
        if (result.rejectedRows.length < MAX_LISTED_REJECTIONS) result.rejectedRows.push({ row: r.rowNumber, reasons: r.reasons });
      }
      // An empty body or a header alone: a snapshot of nothing would close the whole list, so refuse it.
      if (rows === 0 && mode === 'snapshot') throw new AppError('ptl_empty_snapshot', 'A snapshot with no rows would close every entry; send at least one row', 400);
      await flush();
      await drain();
    } catch (e) {
      // Answer only once nothing is still being applied, so the answer describes what is stored.
      await Promise.allSettled(sending.map((s) => s.done));
      // A snapshot refused as no longer running is given up already.
      if (!(e instanceof SnapshotRefused)) await this.abandon(snapshotStarted);
      throw e instanceof BatchRefused ? e.toAppError(result.accepted, mode) : e instanceof SnapshotRefused ? e.toAppError(result.accepted) : e;
    }
    if (mode === 'snapshot') {
      const closingWithheld = withholdClosing(rows, result.rejected, broken, this.config.PTL_SNAPSHOT_MAX_REJECTED_PERCENT);
      const filed: SnapshotCompleteDto = closingWithheld
        ? { rows, rejected: result.rejected, closingWithheld }
        : { rows, rejected: result.rejected, rejectedPathwayIds: [...rejectedPathways] };
      // Every snapshot ends with a completed import record, even one of rejected rows alone, so
      // the booking team sees what came in and, when nothing was closed, why.
      const done = await startSnapshot()
        .then((id) => this.exchange.call<SnapshotResult>('POST', `/waiting-list/snapshots/${id}/complete`, filed))
        .catch(async (e: unknown) => {
          const refused = e instanceof SnapshotRefused ? e : SnapshotRefused.from(e);
          if (!refused) await this.abandon(snapshotStarted);
          throw refused ? refused.toAppError(result.accepted) : e;
        });
      result.closed = done.closed;
      result.deferred = done.deferred;
      if (closingWithheld) {
        result.closingWithheld = closingWithheld;
        // The answer goes to the trust's integration engine; the on-call operator hears it here
        // (counts and the reason only, which name no patient).
        this.logger.warn(`PTL snapshot from ${this.config.TRUST_ODS} closed nothing: ${closingWithheld}`);
      }
    }
    // The waiting list's health at a glance: a snapshot that closed nothing is the one to alert on.
    const outcome = mode === 'delta' ? 'applied' : result.closingWithheld ? 'closing_withheld' : 'applied';
    this.metrics?.counter('ptl_imports_total', 'PTL files imported, by mode and outcome (closing_withheld: a snapshot that closed nothing)', ['trust', 'mode', 'outcome'])
      .inc({ trust: this.config.TRUST_ODS, mode, outcome });
    this.metrics?.counter('ptl_rows_total', 'PTL rows read, by outcome', ['trust', 'outcome']).inc({ trust: this.config.TRUST_ODS, outcome: 'accepted' }, result.accepted);
    this.metrics?.counter('ptl_rows_total', 'PTL rows read, by outcome', ['trust', 'outcome']).inc({ trust: this.config.TRUST_ODS, outcome: 'rejected' }, result.rejected);
    return result;
  }

  /**
   * Gives up the snapshot this import started, if it did, once the import has failed: otherwise
   * the trust's next snapshot (this file, corrected and sent again) would be refused until the
   * exchange took this one as abandoned. Best effort: failing that, that is what happens.
   */
  private async abandon(started: Promise<string> | undefined): Promise<void> {
    const id = await started?.catch(() => undefined);
    if (id === undefined) return;
    await this.exchange.call('POST', `/waiting-list/snapshots/${id}/abandon`).catch((e: unknown) => {
      this.logger.warn(`PTL snapshot ${id} from ${this.config.TRUST_ODS} failed and could not be given up at the exchange: ${errorMessage(e)}`);
    });
  }
}

/**
 * The exchange's 409 about the snapshot itself, as the uploader's 409: another snapshot of the
 * trust is running (`snapshot_running`: nothing of this file was applied), or this one is no longer
 * the trust's running snapshot (abandoned after going quiet, so it applies and closes nothing more).
 * Null for any other error. Passes on the exchange's message, which names no patient.
 */
class SnapshotRefused extends Error {
  private constructor(readonly body: { error?: unknown; message?: unknown; details?: unknown }) {
    super(`the exchange refused the snapshot: ${String(body.error)}`);
  }

  static from(e: unknown): SnapshotRefused | null {
    if (!(e instanceof ExchangeHttpError) || e.status !== 409) return null;
    try {
      return new SnapshotRefused(JSON.parse(e.body) as SnapshotRefused['body']);
    } catch {
      return new SnapshotRefused({});
    }
  }

  /** `applied`: rows applied once nothing is still being applied. */
  toAppError(applied: number): AppError {
    const said = typeof this.body.message === 'string' ? ` The exchange said: ${this.body.message}` : '';
    if (this.body.error === 'snapshot_running') {
      return new AppError('ptl_snapshot_running',
        `Another PTL snapshot of this trust is still being applied, so this one was refused and nothing in it was applied.${said}`, 409, this.body.details);
    }
    return new AppError('ptl_snapshot_not_running',
      `The snapshot stopped being this trust's running snapshot part-way (${applied} rows were applied; it closed nothing). Send the whole file again.${said}`,
      409, this.body.details);
  }
}

/**
 * A batch the exchange refused for good (a 4xx): rows this reader passed but the exchange does not
 * take, which is a gap between the two checks, not the exchange failing. Answered as a client error
 * naming the rows and what the exchange said of them, rather than a 500 that says nothing.
 */
class BatchRefused extends Error {
  constructor(readonly rowNumbers: number[], readonly refusal: ExchangeHttpError) {
    super(`the exchange refused rows ${rowNumbers[0]} to ${rowNumbers[rowNumbers.length - 1]}`);
  }

  toAppError(applied: number, mode: 'snapshot' | 'delta'): AppError {
    const first = this.rowNumbers[0];
    const last = this.rowNumbers[this.rowNumbers.length - 1];
    return new AppError(
      'ptl_batch_refused',
      `The exchange refused the batch of rows ${first} to ${last} (none of them applied) and the import stopped there: ${applied} rows ` +
        `of other batches were applied${mode === 'snapshot' ? ', and the snapshot closed nothing' : ''}. Correct the rows named and send the file again.`,
      422,
      { rows: { first, last }, applied, refused: this.problems() },
    );
  }

  /** What the exchange said, its `columns.<name>[i]` turned into the file's row numbers (its texts quote no values). */
  private problems(): string[] {
    let body: { details?: unknown; message?: unknown };
    try {
      body = JSON.parse(this.refusal.body) as typeof body;
    } catch {
      return [`the exchange answered ${this.refusal.status}`];
    }
    const details = Array.isArray(body.details) ? body.details.filter((d): d is string => typeof d === 'string') : [];
    if (details.length === 0) return [typeof body.message === 'string' ? body.message : `the exchange answered ${this.refusal.status}`];
    return details.slice(0, 20).map((d) => d.replace(/^columns\.(\w+)\[(\d+)\]/, (whole, column: string, i: string) => {
      const row = this.rowNumbers[Number(i)];
      return row === undefined ? whole : `row ${row}: ${column}`;
    }));
  }
}

/**
 * Why a snapshot of `rows` data rows, `rejected` of them rejected, must close nothing; null when
 * it may close what it does not list. A file that broke part-way was not seen whole. A file with
 * more than `maxRejectedPercent` of its rows rejected is more likely a changed or damaged extract
 * than the trust's list with some bad cells: its rejected rows whose pathway id cannot be read
 * (or reads as something else, as with shifted columns) would close their patients' pathways.
 * Names no patient: the answer and the import record are read by the booking team.
 */
export function withholdClosing(rows: number, rejected: number, broken: boolean, maxRejectedPercent: number): string | null {
  if (broken) return 'The CSV could not be read to its end, so the file may not be the whole list: this snapshot closed nothing. Send the whole file again.';
  if (rejected * 100 <= maxRejectedPercent * rows) return null;
  const share = Math.round((rejected * 1000) / rows) / 10;
  return `${rejected} of ${rows} rows (${share}%) were rejected, more than PTL_SNAPSHOT_MAX_REJECTED_PERCENT (${maxRejectedPercent}%), ` +
    'so the file may not be the whole list (a changed extract format?): this snapshot closed nothing. Correct the rows and send the file again.';
}

export type PtlRowResult =
  | { ok: true; rowNumber: number; row: PtlRow }
  /**
   * `broken`: the CSV itself could not be read from this row on (nothing after it was seen).
   * `pathwayId`: the pathway the row names, when that cell could be read.
   */
  | { ok: false; rowNumber: number; reasons: string[]; broken?: boolean; pathwayId?: string };

/**
 * A cell held for the whole file (the pathway ids, to find repeats) is copied when long: V8 keeps
 * a long substring as a view of the string it was cut from, and the quick CSV path cuts cells from
 * a whole chunk of the body, so one kept id would keep its chunk, and in time the whole file.
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** How many cells past the header's `columns` hold something (a trailing empty cell or two is an export habit, not data). */
function extraCells(cells: readonly string[], columns: number): number {
  let n = 0;
  for (let i = columns; i < cells.length; i++) if (cells[i] !== '') n = i - columns + 1;
  return n;
}

/**
 * Reads a PTL CSV as it streams in, one judged row at a time (row numbers count data rows from 1).
 * A header lacking a required column, or a body that is not CSV from its first row, is an
 * AppError (400) before any row is yielded, so nothing is applied. A pathway listed twice is
 * ambiguous: its first row stands (applied if good; if rejected, its pathway is kept as it was) and
 * later ones are rejected naming it. A row with more cells than the header is rejected. A file that breaks
 * part-way yields the rows before the break and then one `broken` rejection (a snapshot must then
 * close nothing: what follows the break was never seen). Neither names what the file holds.
 */
export async function* readPtlRows(body: Readable, now: Date): AsyncGenerator<PtlRowResult> {
  // Rows come as arrays of cells: the header is read once and each column's position (and
  // "today") worked out then, rather than every row becoming an object keyed by header name. The
  // header is judged as the reader reaches it, so a bad header is reported even when the CSV
  // breaks further on in the same chunk.
  let headerProblem: string | null = null;
  let header: string[] | undefined;
  let judge: ((cells: readonly string[]) => PtlRowValidation) | undefined;
  const onHeader = (cells: string[]) => {
    const missing = missingPtlColumns(cells);
    if (missing.length) {
      headerProblem = `The PTL lacks required column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`;
      throw new Error(headerProblem);
    }
    header = cells;
    judge = ptlRowReader(cells, now, { timeZone: 'Europe/London' });
  };
  // One small entry per pathway, even at 250,000 rows.
  const firstRowOf = new Map<string, number>();
  let rowNumber = 0;
  try {
    for await (const cells of csvRecords(body, onHeader)) {
      rowNumber++;
      const v = (judge as (cells: readonly string[]) => PtlRowValidation)(cells);
      // Cells past the header's are not data of any column: most likely a row run into the next
      // (a stray comma, a lost line ending), so nothing in it can be trusted to be where it says.
      const extra = extraCells(cells, (header as string[]).length);
      const pathwayId = v.ok ? v.row.pathwayId : v.pathwayId;
      const first = pathwayId === undefined ? undefined : firstRowOf.get(pathwayId);
      if (pathwayId !== undefined && first === undefined) firstRowOf.set(ownCopy(pathwayId), rowNumber);
      if (v.ok && extra === 0 && first === undefined) {
        yield { ok: true, rowNumber, row: v.row };
        continue;
      }
      const reasons = v.ok ? [] : v.reasons;
      if (extra > 0) reasons.push(`the row has ${extra} more cell${extra > 1 ? 's' : ''} than the header has columns`);
      // A pathway listed twice is ambiguous, whichever of its rows is good: the first row stands
      // (applied, or rejected and so kept as it was) and every later one is rejected naming it.
      if (first !== undefined) reasons.push(`PATIENT_PATHWAY_IDENTIFIER repeats row ${first}; a pathway may be listed once per file`);
      yield pathwayId !== undefined && first === undefined ? { ok: false, rowNumber, reasons, pathwayId: ownCopy(pathwayId) } : { ok: false, rowNumber, reasons };
    }
  } catch (e) {
    if (headerProblem) throw new AppError('ptl_missing_columns', headerProblem, 400);
    if (rowNumber === 0) throw new AppError('ptl_not_csv', `The body is not a readable CSV file: ${describeCsvError(e, header)}`, 400);
    yield { ok: false, rowNumber: rowNumber + 1, reasons: [`the CSV cannot be read from here on: ${describeCsvError(e, header)}`], broken: true };
  }
}
