/**
 * Typed calls to lpstudio's REST API (`/lpstudio/api/v1`).
 *
 * Every call goes through `ServerConnection.makeRequest`, which adds the server's token and
 * the XSRF header; an error answer becomes an `ApiError` carrying the API's
 * `{code, message, field, fix}`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PREFIX = 'lpstudio/api/v1';

export type Permission = 'view' | 'operate' | 'build' | 'admin';

export interface Me {
  name: string;
  role: 'admin' | 'analyst' | 'operator';
  can: Record<Permission, boolean>;
  /** the studio pops up its gallery: an admin who has not dismissed it in this workspace */
  gallery_popup: boolean;
}

export interface Template {
  name: string;
  title: string;
  description: string;
  group: string;
  trigger: string;
  connectors: string[];
  files: string[];
}

/** A template that cannot be tried (a bad cron or time zone, say): its error names the field
 * and the fix, as a Try of it is refused. */
export interface BrokenTemplate extends Problem {
  name: string;
  /** its notebook, as `templates/NAME.ipynb` */
  file: string;
}

/** `GET gallery`: the templates to try, and the broken ones beside them. */
export interface Gallery {
  templates: Template[];
  broken: BrokenTemplate[];
}

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  writeOnly?: boolean;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  /** `date` (ISO 8601 text): the form shows a date input. */
  format?: string;
  'x-picklist'?: { connection: string; list: string };
  [key: string]: unknown;
}

export interface Slot {
  /** optional in a recipe's metadata: the slot's name stands in */
  label?: string;
  type: string;
}

/** What is wrong, in the API's one shape (an error answer's `error`, a `settings_problem`). */
export interface Problem {
  code: string;
  message: string;
  field: string | null;
  fix: string | null;
}

export interface JobSummary {
  id: number;
  status: JobStatus;
  created_at?: string;
}

export interface RecipeRow {
  recipe: string;
  project: string;
  title: string;
  description: string;
  trigger: string;
  connections: Record<string, Slot>;
  parameters: JsonSchema;
  problem: string | null;
  /** its notebook does not read, and it has a version to restore that mends it */
  restorable: boolean;
  last_job: JobSummary | null;
  state: 'started' | 'stopped';
  /** when a started schedule fires next (ISO 8601, UTC); null for any other recipe */
  next_run: string | null;
  trigger_errors?: { count: number; last: string | null };
  /** a started callable edited onto a path another started recipe holds: it serves nothing */
  endpoint_problem?: Problem | null;
  /** another recipe's name looks the same on screen, its accents written otherwise */
  name_problem?: Problem | null;
  /** a started one's settings cannot run (a saved value its notebook now refuses, a webhook's
   * connection without its secret): every run or delivery is refused */
  settings_problem?: Problem | null;
}

export interface RecipeDetail {
  recipe: string;
  title: string;
  description: string;
  trigger: Record<string, unknown> & { kind?: string };
  connections: Record<string, Slot>;
  parameters: JsonSchema;
  settings: {
    parameters: Record<string, unknown>;
    connections: Record<string, string>;
    since?: string;
    /** set by a start */
    started_at?: string;
    /** failure contacts of its unattended jobs; a webhook is shown as `https://host/****` */
    notify?: { webhook?: string; email?: string };
    call_timeout?: number | null;
  };
  /** where a poll goes on from once its first start or poll fixed it (a saved since would
   * not move it: a start's reset_since does), else null */
  since_fixed?: string | null;
  /** slots no one chose a connection for: `settings.connections` names the one the
   * automatic choice fills them with (not a choice to save) */
  automatic?: string[];
  /** why the saved settings cannot run yet (a bad value, a slot with no connection) */
  settings_problem: Problem | null;
  state: 'started' | 'stopped';
  /** its newest job as `jobs` lists it (no event, no result) */
  last_job: JobSummary | null;
  /** of its settings: every write counts it up; a save sending an older one is refused (409) */
  revision: number;
  /** a callable's own call timeout in seconds (null: none saved, or not callable) */
  call_timeout?: number | null;
  /** how long the server lets a callable's caller wait without one of its own, in seconds */
  call_timeout_default?: number | null;
  /** what the saved settings will fail at as they stand (a callable's call timeout a
   * Conversation Builder bot does not wait out), as their save warned; a save's answer
   * gives the save's own (a template the handoff's message cannot take, too) */
  warnings?: Problem[];
}

/** A snapshot of a recipe's notebook and settings (`GET recipes/R/versions`, newest first). */
export interface RecipeVersion {
  id: string;
  created_at: string;
  created_by: string;
  /** the parameters saved, and the connection each slot used (not whether it was chosen) */
  settings: { parameters?: Record<string, unknown>; connections?: Record<string, string> };
}

/** A restore's answer: the version restored (newest again), and the version the recipe as
 * it was is kept as (null when its file could not be read). */
export interface Restored extends RecipeVersion {
  recipe: string;
  kept: string | null;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** In the order of a job's life, as lpstudio/jobstates.py's JOB_STATES (a test checks both lists) */
export const JOB_STATES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** The states a job ends in: nothing changes it after (it may be rerun) */
export const FINAL_STATES: JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface JobError {
  /** papermill's index of the failing cell, from 0; null when the job stopped between cells */
  cell?: number | null;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  /** what to do, where lpstudio says it apart from `evalue` (a dead kernel's, a timeout's) */
  fix?: string | null;
  traceback?: string[] | string;
  [key: string]: unknown;
}

export interface Job {
  id: number;
  recipe: string;
  version?: string;
  status: JobStatus;
  trigger: string;
  /** In a list's rows (`api.jobs`), only those that fit 1,000 characters of JSON together:
   * `api.job` has them all. */
  parameters?: Record<string, unknown>;
  /** In a list's rows, the parameters left out of `parameters` for their size, each with its
   * size in characters of JSON. */
  parameters_cut?: Record<string, number>;
  /** The cached trigger event (a poll's checkouts, a call's body), secrets masked; not in a
   * list's rows (`api.jobs`), as it has no bound in size: `api.job` has it. */
  event?: unknown;
  user?: string;
  rerun_of?: number | null;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  duration?: number | null;
  /** Seconds the job may run, given for it (a run's or rerun's timeout); null: its recipe's
   * or the workspace's. */
  timeout?: number | null;
  progress?: { done?: number; total?: number };
  /** How many recipients a running job's sends have reached so far, by state; only where one
   * job is asked for (`api.job`), null when it is not running or has claimed none. */
  sends?: Record<string, number> | null;
  error?: JobError | null;
  /** What the recipe set (`set_result`); not in a list's rows either, as `event`. */
  result?: Record<string, unknown> | null;
  /** The recipients its result reports by key (accepted, failed, rejected), counted by the
   * rule `lpstudio show` and the dashboard count by (`lpstudio.proactive`); null: none. */
  recipients?: Record<string, number> | null;
  output_path?: string | null;
  /** The job's output notebook is no longer at `output_path` (moved or deleted from history/). */
  output_missing?: boolean;
  /** Erased after the retention period: parameters, event, result, output notebook and the
   * error's message and traceback; its status, times and the error's kind and cell stay. */
  purged?: boolean;
}

/** A Poll now's answer: its jobs as a list's rows (no event, no result), and the warnings of
 * its conditions that could not compare some events' values (which started no job). */
export interface Polled {
  jobs: Job[];
  warnings: Problem[];
}

export interface JobsQuery {
  recipe?: string;
  /** a project folder (`shop`): the jobs of its recipes and its sub-folders' */
  project?: string;
  status?: string;
  since?: string;
  limit?: number;
  offset?: number;
  /** the id of the last job of a page: the jobs after it (the next page) */
  before?: number;
}

export interface Connector {
  name: string;
  title: string;
  description: string;
  fields: JsonSchema;
}

/** A connector that does not load (a brand's own file in the workspace's `connectors/` with a
 * syntax error, say): by the name a user would ask for, with the error naming its file. */
export interface BrokenConnector extends Problem {
  name: string;
}

/** `GET connectors`: those that load, and why the others do not (never left out silently). */
export interface ConnectorListing {
  connectors: Connector[];
  broken: BrokenConnector[];
}

export interface Connection {
  name: string;
  type: string;
  fields: Record<string, unknown>;
  /** placeholder: imported without its secrets; nothing uses it until Edit gives them */
  status: 'untested' | 'connected' | 'disconnected' | 'placeholder';
  status_message?: string | null;
  tested_at?: string | null;
}

/** What an import of a project package wrote (`POST packages`). */
export interface ImportSummary {
  into: string;
  recipes: { recipe: string; replaced: boolean; settings?: boolean; notes: string[] }[];
  /** bound: this workspace's of that name; created: new, a placeholder when its secrets
   * were withheld (`fix` says how to give them, in the CLI's terms) */
  connections: {
    name: string;
    type: string;
    status: 'bound' | 'untested' | 'placeholder';
    created: boolean;
    fix: string | null;
  }[];
}

/** A file the server answered, for the browser to save. */
export interface Download {
  blob: Blob;
  filename: string;
}

export interface Dashboard {
  start: string;
  end: string;
  jobs_per_day: { day: string; status: JobStatus; count: number }[];
  recipes: {
    recipe: string;
    succeeded: number;
    failed: number;
    latest_job?: { id: number; status: JobStatus; created_at: string } | null;
  }[];
  connections: Record<string, number>;
  proactive: { day: string; accepted: number; failed: number }[];
}

export interface PicklistOption {
  value: string;
  label: string;
}

/** An error answer of the API, in its one shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    readonly fix: string | null = null
  ) {
    super(message);
  }
}

/** A recipe path (`shop/cart.ipynb`) as URL segments, each one encoded. */
export function recipePath(recipe: string): string {
  return recipe.split('/').map(encodeURIComponent).join('/');
}

/**
 * Wraps a request so only the answer to its newest call counts: a panel's timer, its filters
 * and its pager each start a refresh, and their answers can arrive out of order (a page
 * shown, then replaced by the answer of an older request). Older calls resolve to
 * `undefined`, and their errors are dropped.
 */
export function latest<A extends unknown[], T>(
  request: (...args: A) => Promise<T>
): (...args: A) => Promise<T | undefined> {
  let newest = 0;
  return async (...args: A) => {
    const mine = ++newest;
    try {
      const answer = await request(...args);
      return mine === newest ? answer : undefined;
    } catch (err) {
      if (mine === newest) {
        throw err;
      }
      return undefined;
    }
  };
}

/** A request to the API; an error answer is thrown as an `ApiError`. */
async function send(
  method: string,
  path: string,
  init: RequestInit = {},
  query?: Record<string, string | number | undefined>
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  let url = URLExt.join(settings.baseUrl, API_PREFIX, path);
  const params = Object.entries(query ?? {}).filter(
    ([, v]) => v !== undefined && v !== ''
  ) as [string, string | number][];
  if (params.length) {
    url += '?' + params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { ...init, method }, settings);
  } catch (err) {
    throw new ApiError(0, 'NetworkError', `the server did not answer: ${String(err)}`);
  }
  if (!response.ok) {
    const e = parse(await response.text())?.error;
    if (e && typeof e === 'object') {
      throw new ApiError(response.status, String(e.code), String(e.message), e.field ?? null, e.fix ?? null);
    }
    throw new ApiError(response.status, 'HttpError', `${response.status} ${response.statusText}`);
  }
  return response;
}

function parse(text: string): any {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  query?: Record<string, string | number | undefined>
): Promise<T> {
  const init: RequestInit =
    body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
  return parse(await (await send(method, path, init, query)).text()) as T;
}

/** The file name a download's Content-Disposition gives (RFC 6266's `filename*` first). */
function attachmentName(disposition: string | null, fallback: string): string {
  const encoded = disposition?.match(/filename\*=UTF-8''([^;]+)/i)?.[1];
  if (encoded) {
    try {
      return decodeURIComponent(encoded);
    } catch {
      // the plain name, below
    }
  }
  return disposition?.match(/filename="([^"]*)"/i)?.[1] || fallback;
}

export const api = {
  me: () => call<Me>('GET', 'me'),
  /** The gallery pop-up stays away for the calling user in this workspace. */
  dismissGalleryPopup: () => call<Me>('POST', 'me/gallery-popup', {}),

  gallery: () => call<Gallery>('GET', 'gallery'),
  tryTemplate: (template: string, project: string, name?: string) =>
    call<RecipeDetail>('POST', 'gallery/try', name ? { template, project, name } : { template, project }),

  recipes: async () => (await call<{ recipes: RecipeRow[] }>('GET', 'recipes')).recipes,
  recipe: (recipe: string) => call<RecipeDetail>('GET', `recipes/${recipePath(recipe)}`),
  saveSettings: (
    recipe: string,
    body: {
      parameters?: Record<string, unknown>;
      /** names in `parameters` whose value is text to read as `-p` reads it */
      parse?: string[];
      connections?: Record<string, string>;
      since?: string;
      reset?: string[];
      notify?: Record<string, string | null>;
      /** a callable's own, in seconds; null: back to the server's */
      call_timeout?: number | null;
      revision?: number;
    }
  ) => call<RecipeDetail>('PUT', `recipes/${recipePath(recipe)}/settings`, body),
  /** `resetSince`: a poll trigger polls again from there (its since is fixed otherwise). */
  start: (recipe: string, resetSince?: string) =>
    call<RecipeDetail>('POST', `recipes/${recipePath(recipe)}/start`, resetSince ? { reset_since: resetSince } : {}),
  stop: (recipe: string) => call<RecipeDetail>('POST', `recipes/${recipePath(recipe)}/stop`, {}),
  run: (recipe: string) => call<Job>('POST', `recipes/${recipePath(recipe)}/run`, {}),
  /** A test run on one recent trigger event: nothing is sent; the job's result holds the
   * requests its actions would have sent. */
  test: (recipe: string) => call<Job>('POST', `recipes/${recipePath(recipe)}/test`, {}),
  /** The poll trigger polled now: the server runs its jobs at once, the recipe started or not. */
  poll: (recipe: string) => call<Polled>('POST', `recipes/${recipePath(recipe)}/poll`, {}),

  versions: async (recipe: string) =>
    (await call<{ versions: RecipeVersion[] }>('GET', `recipes/${recipePath(recipe)}/versions`)).versions,
  /** Writes the version's notebook and settings back; the recipe as it was is kept as one. */
  restore: (recipe: string, version: string) =>
    call<Restored>('POST', `recipes/${recipePath(recipe)}/restore`, { version }),

  /** A project folder (`.`: every project) as a package, the zip `lpstudio export` writes. */
  exportPackage: async (project: string): Promise<Download> => {
    const response = await send('GET', 'packages', {}, { project });
    const fallback = `${project.split('/').pop() || 'projects'}.zip`;
    return {
      blob: await response.blob(),
      filename: attachmentName(response.headers.get('Content-Disposition'), fallback)
    };
  },
  /** Imports a package; nothing is written unless all of it can be. */
  importPackage: async (file: Blob, into: string, replace: boolean): Promise<ImportSummary> => {
    const init = { body: file, headers: { 'Content-Type': 'application/zip' } };
    const query = { into: into || undefined, replace: replace ? 'true' : undefined };
    return parse(await (await send('POST', 'packages', init, query)).text()) as ImportSummary;
  },

  jobs: (query: JobsQuery) =>
    call<{ jobs: Job[]; limit: number; offset: number }>('GET', 'jobs', undefined, { ...query }),
  /** `listed`: the job as `jobs` lists it (no event, no result) with its `waits` and `sends`,
   * what moves while a view shows it. */
  job: (id: number, listed = false) => call<Job>('GET', `jobs/${id}`, undefined, { listed: listed ? 'true' : undefined }),
  /** `timeout`: seconds, instead of the job's own; sent as typed (text that is no number
   * too), for the API to refuse it naming `timeout`, as it refuses a run's. */
  rerun: (id: number, timeout?: number | string) =>
    call<Job>('POST', `jobs/${id}/rerun`, timeout === undefined ? {} : { timeout }),
  cancel: (id: number) => call<Job>('POST', `jobs/${id}/cancel`, {}),

  dashboard: (days: number) => call<Dashboard>('GET', 'dashboard', undefined, { days }),

  connectors: () => call<ConnectorListing>('GET', 'connectors'),
  connections: async () => (await call<{ connections: Connection[] }>('GET', 'connections')).connections,
  createConnection: (name: string, type: string, fields: Record<string, unknown>) =>
    call<Connection>('POST', 'connections', { name, type, fields }),
  updateConnection: (name: string, fields: Record<string, unknown>) =>
    call<Connection>('PUT', `connections/${encodeURIComponent(name)}`, { fields }),
  deleteConnection: (name: string) => call<unknown>('DELETE', `connections/${encodeURIComponent(name)}`),
  testConnection: (name: string) => call<Connection>('POST', `connections/${encodeURIComponent(name)}/test`, {}),
  picklist: async (connection: string, list: string): Promise<PicklistOption[]> =>
    (
      await call<{ options: PicklistOption[] }>(
        'GET',
        `connections/${encodeURIComponent(connection)}/picklists/${encodeURIComponent(list)}`
      )
    ).options
};
