/**
 * The Jobs panel: a table of jobs (status, recipe, start, duration, trigger, user) with
 * filters, paging and live updates; progress of running jobs; the output notebook; rerun
 * (after a warning: its side effects repeat) and cancel; the error of a failed or cancelled
 * job. Each row opens onto the job's view, as `lpstudio show` says it: recipe version,
 * trigger, parameters, trigger event, result, progress and the failing cell. A job purged
 * after the retention period keeps its status, times and the error's kind and cell: its row
 * and view say so and offer nothing that needs what was erased. The list's rows leave out each
 * job's trigger event and result (they have no bound in size): a view shows the whole job,
 * fetched when its Details opens; while it runs, only what moves is fetched again (its
 * row and sends so far), and the whole job once more when it has ended.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { runningIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, ApiError, FINAL_STATES, Job, JobError, JobsQuery, JOB_STATES, latest } from './api';
import { OUTPUT_MISSING, StudioContext } from './context';
import { button, el, errorBox, fill, focusIn, FocusMark, formatDuration, formatTime, holdFieldFocus, markField, markFocus, okBox, restoreFocus, Rows, scroller, statusBadge } from './dom';
import { jobErrorFix, labError, labText, recipeLabError, refusedIn } from './fixes';
import { LivePanel } from './panel';

const PAGE = 20;
const REFRESH_MS = 2000;
/** `labText`'s where for what the panel says of its filters: selects lab_terms.json's rules
 * for them (a refused recipe filter's fix names the jobs' rows, not the API's list). */
const JOBS_PANEL = 'in the Jobs panel';
/** As `lpstudio show` says it of a purged job. */
const PURGED = 'data and output erased after the retention period (no rerun)';
/** What the rerun dialog's Timeout (seconds) does, as `lpstudio rerun --timeout` does it. */
const TIMEOUT_HINT =
  "Empty: the job's own timeout. Give a longer one to a job that timed out: its rerun sends " +
  'nothing its delivery ledger holds again, where a new run would.';
/** As the notebook's JobsView warns of a rerun: `A rerun ` + jobviews.RERUN_RISK (the CLI and
 * the REST API say it of the job). */
const RERUN_WARNING =
  "A rerun runs every cell again, on the recipe's latest version: side effects outside the " +
  'delivery ledger (REST calls, opt-ins, written files) happen again; campaign batches it ' +
  'already delivered are not sent twice.';
/** What the view of an opened job that left the page says (`Line.kept`). */
const KEPT =
  'No longer on this page (newer jobs came before it, or it no longer matches the filters): ' +
  'kept here until its Details is closed.';
/** JSON up to this long is shown on one line (`compactJson`). */
const ONE_LINE = 80;
/** A batch's addresses named in its problem line, the rest counted. */
const ADDRESSES_SHOWN = 5;

/** The Dashboard's periods (`day_range`), offered as `since` choices `utc1`, `utc7`...: its
 * figures can be checked against the jobs they count. */
const UTC_DAYS = [1, 7, 30, 90, 366];

/** A line of the table: a job's row (`open` when its view is shown), or the view under it
 * (of the whole job); `kept`: an opened job no longer on the page, drawn below it until its
 * view is closed. */
interface Line {
  job: Job;
  open?: boolean;
  view?: boolean;
  kept?: boolean;
}

/** The filters as last applied (Enter, or a choice): what every refresh reads, never what
 * is being typed. `since` is the choice's value (`24h`, `utc7`). */
interface Filters {
  recipe?: string;
  project?: string;
  status?: string;
  since?: string;
}

/** A page, and the opened jobs asked for (`keep`), each whole as it is now. */
interface Page {
  jobs: Job[];
  opened: Job[];
}

export class JobsPanel extends LivePanel {
  constructor(private ctx: StudioContext) {
    super(ctx, REFRESH_MS);
    this.id = 'lpstudio-jobs';
    this.title.label = 'Jobs';
    this.title.icon = runningIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-jobs');

    this.status.append(el('option', { text: 'any status', attrs: { value: '' } }));
    for (const s of JOB_STATES) {
      this.status.append(el('option', { text: s, attrs: { value: s } }));
    }
    for (const [value, label] of [
      ['', 'any time'],
      ['1h', 'last hour'],
      ['24h', 'last 24 hours'],
      ['7d', 'last 7 days'],
      ['30d', 'last 30 days'],
      // As the Dashboard counts them: UTC calendar days, today included.
      ...UTC_DAYS.map(days => [`utc${days}`, days === 1 ? 'today (UTC)' : `last ${days} days (UTC)`])
    ]) {
      this.since.append(el('option', { text: label, attrs: { value } }));
    }
    this.recipe.placeholder = 'recipe, e.g. shop/cart_abandonment (Enter)';
    this.project.placeholder = 'project, e.g. shop (Enter)';
    // What is typed applies on Enter (or leaving the field), a choice at once.
    for (const input of [this.recipe, this.project, this.status, this.since]) {
      input.addEventListener('change', () => this.filter());
    }
    // Escape closes the error view, as the connection editor's, the focus back on its Error.
    this.details.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this.details.hasChildNodes()) {
        event.preventDefault();
        event.stopPropagation();
        this.closeError();
      }
    });

    this.node.append(
      el(
        'div',
        { cls: 'lps-toolbar' },
        el('h2', { text: 'Jobs' }),
        el('span', { attrs: { 'data-field': 'recipe' } }, this.recipe), // marked when refused
        el('span', { attrs: { 'data-field': 'project' } }, this.project),
        this.status,
        this.since,
        button('Refresh', () => this.refresh(), 'lps-refresh')
      ),
      this.message,
      this.notice,
      scroller(
        el(
          'table',
          { cls: 'lps-table' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['#', 'status', 'recipe', 'started', 'duration', 'trigger', 'user', 'progress', ''].map(h =>
                el('th', { text: h })
              )
            )
          ),
          this.rows.node
        )
      ),
      // One row (`data-key`) for `restoreFocus`: the focus a pressed one held goes to the
      // other when it is disabled (Next on the last page), as Start and Stop in Settings.
      el('div', { cls: 'lps-pager', attrs: { 'data-key': 'pager' } }, this.prev, this.page, this.next),
      this.details
    );
    void this.refresh();
  }

  /** Shows one recipe's jobs (or all). */
  showRecipe(recipe?: string): void {
    this.recipe.value = recipe ?? '';
    this.filter();
  }


  /**
   * The page asked for: the first is the newest jobs, live; each later one the jobs after
   * the last row of the page before it as it was shown (`before`), so jobs arriving neither
   * shift it nor show its rows again on the next. A job whose view is open and that left
   * the page on screen stays drawn below it.
   */
  async refresh(): Promise<void> {
    const at = this.at;
    const keep = at === this.shown ? [...this.jobs, ...this.kept].flatMap(j => this.opened.get(j.id) ?? []) : [];
    try {
      const answer = await this.fetch(
        {
          recipe: this.applied.recipe,
          project: this.applied.project,
          status: this.applied.status,
          since: sinceOf(this.applied.since),
          limit: PAGE + 1,
          before: at ? this.ends[at - 1] : undefined
        },
        keep
      );
      if (!answer) {
        return; // a newer refresh (another page or filter) is under way
      }
      fill(this.message);
      markField(this.node, null);
      const jobs = answer.jobs.slice(0, PAGE);
      this.jobs = jobs;
      const on = new Set(jobs.map(j => j.id));
      // Closed while the page came: it stays closed.
      const opened = answer.opened.filter(j => this.opened.has(j.id));
      opened.forEach(j => this.opened.set(j.id, j));
      this.kept = opened.filter(j => !on.has(j.id));
      this.draw();
      this.rows.node.dataset.count = String(jobs.length);
      this.shown = at;
      this.ends.length = at;
      if (jobs.length) {
        this.ends.push(jobs[jobs.length - 1].id);
      }
      this.more = answer.jobs.length > PAGE;
      const first = at * PAGE; // as counted when the pages were turned
      this.page.textContent = jobs.length ? `jobs ${first + 1}–${first + jobs.length}` : '';
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && (err.field === 'recipe' || err.field === 'project')) {
        // A recipe (or project) the server finds under no reading of the name typed: said
        // under the filters, the refused one marked, and no rows (they were another
        // filter's), not "No jobs.".
        this.refused();
        markField(this.node, err.field, this.message);
        fill(this.message, errorBox(labError(err, JOBS_PANEL)));
      } else if (at !== this.shown) {
        // The page asked for did not come: said until the next click (the timer's refresh
        // of the page on screen would wipe it at once), and the pager goes on from there.
        this.at = this.shown;
        fill(this.notice, errorBox(err));
      } else {
        fill(this.message, errorBox(err));
      }
    }
    this.prev.disabled = this.shown === 0;
    this.next.disabled = !this.more;
    restoreFocus(this.turned);
    this.turned = null;
  }

  /**
   * The jobs shown, each followed by its view if opened. Only the lines that changed are
   * drawn again (a running job's progress, say): the others keep their buttons, the one a
   * user tabbed to keeps the focus, and an open view stays open (and scrolled) through the
   * live refresh.
   */
  private draw(): void {
    const lines = this.jobs.flatMap((job): Line[] => {
      const whole = this.opened.get(job.id);
      return whole ? [{ job, open: true }, { job: whole, view: true }] : [{ job }];
    });
    for (const job of this.kept.filter(j => this.opened.has(j.id))) {
      lines.push({ job, open: true, kept: true }, { job, view: true, kept: true });
    }
    keepScroll(this.rows.node, () =>
      this.rows.show(lines, () => el('tr', {}, el('td', { cls: 'lps-hint', text: 'No jobs.', attrs: { colspan: '9' } })))
    );
  }

  /** Opens a job's view, of the whole job (its row has no event or result), or closes it.
   * A job that cannot be fetched says why until the next action. */
  private async toggle(job: Job): Promise<void> {
    if (!this.opened.delete(job.id)) {
      fill(this.notice);
      try {
        this.opened.set(job.id, await api.job(job.id));
      } catch (err) {
        fill(this.notice, errorBox(err));
        return;
      }
    }
    this.draw();
  }

  /** No rows and no pages: the filter was refused. */
  private refused(): void {
    this.jobs = [];
    this.rows.clear();
    this.rows.node.dataset.count = '0';
    this.kept = [];
    this.at = this.shown = 0;
    this.ends = [];
    this.more = false;
    this.page.textContent = '';
  }

  /** Another page: the pager waits for its answer, which says what lies either side. */
  private turn(delta: number): void {
    // Disabled until the page comes, the pressed one drops the keyboard's focus to the page.
    this.turned = markFocus(this.node);
    this.at = Math.max(0, this.shown + delta);
    this.prev.disabled = this.next.disabled = true;
    fill(this.notice);
    void this.refresh();
  }

  /** The filters as they are now apply, from the first page. */
  private filter(): void {
    this.applied = {
      recipe: this.recipe.value.trim() || undefined,
      project: this.project.value.trim() || undefined,
      status: this.status.value || undefined,
      since: this.since.value || undefined
    };
    this.at = 0;
    fill(this.notice);
    fill(this.details); // another selection: the details of a job shown before go
    void this.refresh();
  }

  private row(job: Job, open: boolean): HTMLElement {
    const can = this.ctx.me.can;
    const actions = el('td', { cls: 'lps-actions' });
    const of = `job ${job.id}`; // every row has its Rerun: each names its job
    const details = button('Details', () => this.toggle(job), 'lps-details-button', `of ${of}`);
    details.setAttribute('aria-expanded', String(open));
    if (open) {
      details.setAttribute('aria-controls', viewId(job));
    }
    actions.append(details);
    if (job.purged) {
      // A rerun needs its parameters and event, Open output its notebook: both are gone.
      actions.append(el('span', { cls: 'lps-hint lps-purged', text: 'purged', title: PURGED }));
    } else if (job.output_missing) {
      // Opening it would only fail: said, with the fix, where the button would be.
      actions.append(el('span', { cls: 'lps-hint lps-output-missing', text: 'output missing', title: OUTPUT_MISSING }));
    } else if (job.output_path) {
      const path = job.output_path;
      // Its error (the notebook removed since the refresh) stays until the next action.
      const open = (): Promise<void> => this.ctx.openOutput(path).catch(err => fill(this.notice, errorBox(err)));
      actions.append(button('Open output', open, 'lps-output', of));
    }
    if (job.status === 'failed' || job.error) {
      actions.append(button('Error', () => this.showError(job), 'lps-error-button', of));
    }
    if (can.operate && !job.purged && FINAL_STATES.includes(job.status)) {
      actions.append(button('Rerun', () => this.rerun(job), 'lps-rerun', of));
    }
    if (can.operate && (job.status === 'queued' || job.status === 'running')) {
      actions.append(button('Cancel', () => this.act(() => api.cancel(job.id), job.recipe), 'lps-cancel', of));
    }
    const done = job.progress?.done ?? 0;
    const total = job.progress?.total ?? 0;
    let progress: HTMLElement | null = null;
    if (job.status === 'running') {
      const bar = el('progress', { cls: 'lps-progress', attrs: { max: String(total || 1), 'aria-label': `job ${job.id}: cells done` } });
      bar.value = done;
      progress = el('span', {}, bar, ` ${done}/${total || '?'}`);
    } else if (total) {
      progress = el('span', { cls: 'lps-hint', text: `${done}/${total} cells` });
    }
    return el(
      'tr',
      {
        cls: `lps-job lps-job-${job.status}`,
        attrs: { 'data-job': String(job.id), 'data-status': job.status, ...(job.purged ? { 'data-purged': '' } : {}) }
      },
      el('td', { text: String(job.id) }),
      el('td', {}, statusBadge(job.status)),
      el('td', { cls: 'lps-path', text: job.recipe }),
      // A job not started (queued, or cancelled before it started) says when it was queued:
      // its time shown as a start changed once it started.
      job.started_at
        ? el('td', { cls: 'lps-nowrap', text: formatTime(job.started_at) })
        : el('td', { cls: 'lps-nowrap' }, el('span', { cls: 'lps-hint lps-queued-at', text: `queued ${formatTime(job.created_at)}` })),
      el('td', { cls: 'lps-nowrap', text: formatDuration(job.duration) }),
      el('td', { text: job.trigger }),
      el('td', { text: job.user ?? '' }),
      el('td', {}, progress),
      actions
    );
  }

  /** Headed by what became of the job (cancelled, or failed: a timeout is a failure whose
   * exception is `Timeout`); a purged job's error kept its kind and cell only. */
  private showError(job: Job): void {
    const e = job.error ?? {};
    const traceback = Array.isArray(e.traceback) ? e.traceback.join('\n') : String(e.traceback ?? '');
    // As `lpstudio show` says it: the exception, then what it said when there is anything.
    const said = e.evalue ? `: ${saidInLab(job)}` : '';
    // Scrolled to the panel's top, then focused: the error is drawn below the list, out of
    // sight of a row clicked high in a full page (the click seemed to do nothing); scrolled
    // only to the nearest edge, its heading alone showed at the bottom, the message below.
    const heading = el('h3', { text: `Job ${job.id} ${job.status}`, attrs: { tabindex: '-1' } });
    fill(
      this.details,
      heading,
      el('div', { cls: 'lps-error-message', text: `${e.ename ?? 'Error'}${said}` }),
      fixView(job),
      typeof e.cell === 'number' ? el('div', { text: cellWhere(e, job.progress?.total ?? 0).trim() }) : null,
      job.purged
        ? el('div', {
            cls: 'lps-hint lps-purged-error',
            text: "The error's message and traceback were purged after the retention period, with the job's data and output."
          })
        : null,
      // The API answers tracebacks as plain text (`plain_error`: no terminal colours).
      traceback ? el('pre', { cls: 'lps-traceback', text: traceback }) : null,
      button('Close', () => this.closeError())
    );
    this.errorOf = job.id;
    // The panel alone scrolls (scrollIntoView would scroll the lab's own boxes too).
    this.node.scrollTop += heading.getBoundingClientRect().top - this.node.getBoundingClientRect().top;
    heading.focus({ preventScroll: true });
  }

  /** Closes the error view, the focus back on the Error that opened it (still on the page). */
  private closeError(): void {
    fill(this.details);
    focusIn(this.node, `Error job ${this.errorOf}`);
  }

  /**
   * The job's view, under its row: what `lpstudio show` says of it. A purged job's data is
   * gone: its view says so, keeping what the job keeps (version, trigger, progress, the
   * error's kind and cell). A `kept` view, of a job no longer on the page, says where it went.
   */
  private view(job: Job, kept = false): HTMLElement {
    const done = job.progress?.done ?? 0;
    const total = job.progress?.total ?? 0;
    const version = job.version ?? '';
    const trigger = job.rerun_of ? `${job.trigger} of job ${job.rerun_of}` : job.trigger;
    const facts: [string, HTMLElement | string][] = [
      ['version', el('code', { text: version.slice(0, 12), title: version })],
      ['trigger', job.user ? `${trigger} by ${job.user}` : trigger],
      ['progress', total ? `${done} of ${total} cells done` : 'no cell run yet']
    ];
    if (job.sends) {
      const sent = Object.entries(job.sends).filter(([, n]) => n);
      facts.push(['sent so far', sent.map(([state, n]) => `${state} ${n}`).join(', ')]);
    }
    if (job.timeout) {
      // Its own (a run's or rerun's): kept by its reruns unless one gives another.
      facts.push(['timeout', `${job.timeout} s, its own`]);
    }
    if (job.purged) {
      facts.push(['purged', el('span', { cls: 'lps-hint', text: PURGED })]);
    } else if (job.output_missing) {
      facts.push(['output', el('span', { cls: 'lps-hint lps-output-missing', text: `${job.output_path}: ${OUTPUT_MISSING}` })]);
    }
    if (!job.purged) {
      facts.push(
        ['parameters', jsonBox(job.parameters ?? {}, 'parameters', `parameters of job ${job.id}`)],
        ['trigger event', job.event == null ? hint('none') : jsonBox(job.event, 'event', `trigger event of job ${job.id}`)]
      );
      if (job.result != null) {
        facts.push(['result', resultView(job)]);
      } else if (FINAL_STATES.includes(job.status)) {
        facts.push(['result', hint('none set')]);
      }
    }
    if (job.error) {
      const label = job.status === 'cancelled' ? 'stopped' : job.status === 'failed' ? 'failing step' : 'error';
      facts.push([label, errorView(job, total)]);
    }
    return el(
      'tr',
      { cls: 'lps-job-view-row' },
      el(
        'td',
        { attrs: { colspan: '9' } },
        el(
          'section',
          { cls: 'lps-job-view', attrs: { id: viewId(job), 'data-job': String(job.id), 'aria-label': `Details of job ${job.id}` } },
          kept ? hint(KEPT, 'lps-kept') : null,
          el('dl', {}, ...facts.flatMap(([name, value]) => [el('dt', { text: name }), el('dd', {}, value)]))
        )
      )
    );
  }

  /**
   * A rerun repeats what the job did, so it is asked for twice; the dialog's Rerun (its
   * default: Enter) keeps the job's timeout, and its Timeout (seconds) gives a longer one, as
   * `lpstudio rerun N --timeout` does, for a job that timed out (its ledger shared, where a
   * new run would send its recipients again). A test job's rerun is a test again (the server
   * keeps its trigger): its actions send nothing, as Settings' Test, which asks nothing first
   * either, unless it timed out. A timeout the API refuses asks again, its field marked.
   */
  private async rerun(job: Job): Promise<void> {
    const ask = job.trigger !== 'test' || job.error?.ename === 'Timeout';
    let timeout = '';
    let refused: unknown = null;
    for (;;) {
      if (ask) {
        const answer = await rerunDialog(job, timeout, refused);
        if (answer === null) {
          return;
        }
        timeout = answer;
      }
      refused = null;
      await this.act(async () => {
        try {
          const queued = await api.rerun(job.id, secondsOf(timeout));
          // The new job is the newest: on the first page, which a later page is not.
          const where = this.shown ? ', first on page 1' : '';
          return `rerun of job ${job.id}: job ${queued.id} ${queued.status}${where}`;
        } catch (err) {
          if (!(err instanceof ApiError && err.field === 'timeout')) {
            throw err;
          }
          refused = err; // said in the dialog, asked again
        }
      }, job.recipe);
      if (!refused) {
        return;
      }
    }
  }

  /** A rerun or cancel: what it says, or its error in the lab's terms, stays until the next
   * one (refreshes do not clear it). */
  private async act(action: () => Promise<unknown>, recipe?: string): Promise<void> {
    fill(this.notice);
    try {
      const said = await action();
      if (typeof said === 'string') {
        fill(this.notice, okBox(said));
      }
      this.ctx.notifyChanged();
    } catch (err) {
      fill(this.notice, errorBox(recipe ? await recipeLabError(err, recipe, this.ctx.me.can) : err));
    }
  }

  private fetch = latest(jobsPage);
  private recipe = el('input', { cls: 'lps-input', attrs: { name: 'recipe', 'aria-label': 'Recipe' } });
  private project = el('input', { cls: 'lps-input', attrs: { name: 'project', 'aria-label': 'Project' } });
  private status = el('select', { cls: 'lps-input', attrs: { name: 'status', 'aria-label': 'Status' } });
  private since = el('select', { cls: 'lps-input', attrs: { name: 'since', 'aria-label': 'Started' } });
  private rows = new Rows<Line>(
    el('tbody'),
    line => (line.view ? `${line.job.id}-view` : String(line.job.id)),
    line => (line.view ? this.view(line.job, !!line.kept) : this.row(line.job, !!line.open))
  );
  /** the jobs on screen, those whose view is open (kept open through refreshes), each whole,
   * and the opened ones that left the page, drawn below it */
  private jobs: Job[] = [];
  private opened = new Map<number, Job>();
  private kept: Job[] = [];
  private applied: Filters = {};
  /** the job whose error is shown (its Error gets the focus back when it closes) */
  private errorOf = 0;
  /** why the list cannot be refreshed (until it can), and what a click could not do */
  private message = el('div', { cls: 'lps-message' });
  private notice = el('div', { cls: 'lps-message lps-notice' });
  private details = el('div', { cls: 'lps-details' });
  // Not `button`s: those enable themselves again once the click's work is done, which
  // would undo the refresh disabling Next on the last page (or Previous on the first).
  private prev = el('button', { cls: 'jp-Button lps-button', text: 'Previous', attrs: { type: 'button' }, onclick: () => this.turn(-1) });
  private next = el('button', { cls: 'jp-Button lps-button', text: 'Next', attrs: { type: 'button' }, onclick: () => this.turn(1) });
  private page = el('span', { cls: 'lps-hint' });
  /** where the keyboard's focus was when a page was asked for: given back once it came */
  private turned: FocusMark | null = null;
  /** the page asked for and the one on screen (0: the newest), whether another follows it,
   * and the last job of each page up to the one on screen: the next page's `before` */
  private at = 0;
  private shown = 0;
  private more = false;
  private ends: number[] = [];
}

/** A page of jobs, and the opened jobs in `keep` (each whole, as last fetched) as they are
 * now (`current`): fetched again when the page no longer holds them (newer jobs pushed them off
 * the first page, or they no longer match) or their row changed; the others as they were.
 * Their views stay open; one that left the page and cannot be fetched is dropped. */
async function jobsPage(query: JobsQuery, keep: Job[]): Promise<Page> {
  const answer = await api.jobs(query);
  const rows = new Map(answer.jobs.slice(0, PAGE).map(j => [j.id, j]));
  const opened = await Promise.all(
    keep.map(whole => {
      const row = rows.get(whole.id);
      if (row && !moved(row, whole) && row.status !== 'running') {
        return whole; // a running one's sends move while its row does not
      }
      return current(whole, row).catch(() => row && whole);
    })
  );
  return { jobs: answer.jobs, opened: opened.filter((j): j is Job => !!j) };
}

/** An open job as it is now. Until it ends, only what moves (`api.job`'s `listed`: its row,
 * `waits` and `sends`) over the job as first fetched: its trigger event never changes, and
 * may be a megabyte fetched every 2 s. Once it has ended (`row`, or the answer, says so), it
 * is fetched whole again: its result is set, or erased by a purge. */
async function current(whole: Job, row?: Job): Promise<Job> {
  if (!row || !FINAL_STATES.includes(row.status)) {
    // Its parameters as a row bounds them: the view keeps them whole (they never move).
    const { parameters: _bounded, parameters_cut: _cut, ...moving } = await api.job(whole.id, true);
    if (!FINAL_STATES.includes(moving.status)) {
      return { ...whole, ...moving };
    }
  }
  return api.job(whole.id);
}

/** What a job's row says that its whole record may say otherwise without being older:
 * `waits` is said of one job only, and a row bounds the parameters (`parameters_cut`),
 * which never move (a purge, which erases them, is said by `purged`). */
const UNMOVED = ['waits', 'parameters', 'parameters_cut'];

/** Whether a job's row says anything its whole record does not (a running job's progress,
 * its end, its purge): the record is older. */
function moved(row: Job, whole: Job): boolean {
  const fields = whole as unknown as Record<string, unknown>;
  return Object.entries(row).some(([key, value]) => !UNMOVED.includes(key) && JSON.stringify(value) !== JSON.stringify(fields[key]));
}

/** The API's `since` for the choice `value`: a rolling span as it is (`24h`), a Dashboard
 * period (`utc7`) as its first UTC midnight, six days before today's. */
function sinceOf(value?: string): string | undefined {
  const days = /^utc(\d+)$/.exec(value ?? '');
  if (!days) {
    return value;
  }
  const start = new Date();
  start.setUTCHours(0, 0, 0, 0);
  start.setUTCDate(start.getUTCDate() - Number(days[1]) + 1);
  return start.toISOString();
}


/**
 * Asks for a rerun of `job`: its warning (a test job's rerun sends nothing: none), and an
 * optional Timeout (seconds), `timeout` as typed before and the API's refusal of it, if any,
 * marked on the field, which then has the focus (else Rerun has it: Enter reruns). The
 * timeout typed (empty: the job's own), or null when cancelled.
 */
async function rerunDialog(job: Job, timeout: string, refused: unknown): Promise<string | null> {
  // A dialog disposes its body when it closes: each attempt gets a new one.
  const body = new Widget();
  body.addClass('lps-rerun-dialog');
  const input = el('input', {
    cls: 'lps-input',
    attrs: { name: 'timeout', inputmode: 'decimal', placeholder: job.timeout ? `its own: ${job.timeout}` : "the job's own" }
  });
  input.value = timeout;
  if (job.trigger !== 'test') {
    body.node.append(el('p', { text: RERUN_WARNING }));
  }
  body.node.append(
    el('label', { cls: 'lps-field', attrs: { 'data-field': 'timeout' } }, el('span', { cls: 'lps-field-label', text: 'Timeout (seconds)' }), input),
    el('p', { cls: 'lps-hint', text: TIMEOUT_HINT })
  );
  if (refused) {
    body.node.append(refusedIn(body.node, refused));
  }
  holdFieldFocus(body.node);
  const answer = await showDialog({
    title: `Rerun job ${job.id} of ${job.recipe}?`,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Rerun' })],
    focusNodeSelector: refused ? '[aria-invalid=true]' : undefined
  });
  return answer.button.accept ? input.value.trim() : null;
}

/** The timeout typed, for the API: none when empty (the job's own), a number, or the text as
 * typed when it is none (refused by the API naming `timeout`, as a run's is). */
function secondsOf(text: string): number | string | undefined {
  const seconds = Number(text);
  return text === '' ? undefined : Number.isNaN(seconds) ? text : seconds;
}


function viewId(job: Job): string {
  return `lps-job-view-${job.id}`;
}

function hint(text: string, cls = ''): HTMLElement {
  return el('span', { cls: `lps-hint ${cls}`.trim(), text });
}

/**
 * A value as `compactJson` in a box that scrolls when long, which the keyboard can reach (to
 * scroll it) and a screen reader names (`name`). `box` tells a redrawn view's boxes apart
 * (`keepScroll`).
 */
function jsonBox(value: unknown, box: string, name: string): HTMLElement {
  const text = compactJson(value);
  return el('pre', { cls: 'lps-json', text, attrs: { 'data-box': box, tabindex: '0', role: 'region', 'aria-label': name } });
}

/** JSON with each object or list that fits on a line (a poll's checkout, say) on one line,
 * the others indented, one entry a line. */
function compactJson(value: unknown, indent = ''): string {
  const flat = JSON.stringify(value) ?? String(value);
  if (typeof value !== 'object' || value === null || indent.length + flat.length <= ONE_LINE) {
    return flat;
  }
  const inner = `${indent}  `;
  const [open, entries, close] = Array.isArray(value)
    ? ['[', value.map(v => compactJson(v, inner)), ']']
    : ['{', Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compactJson(v, inner)}`), '}'];
  return entries.length ? `${open}\n${entries.map(e => inner + e).join(',\n')}\n${indent}${close}` : flat;
}

/** A result's keys that report recipients: the job's answer counts them (`recipients`). */
const RECIPIENT_KEYS = ['accepted', 'failed', 'rejected'];

/**
 * A job's result: its counts (`accepted 1 · failed 2`: its recipients as the job's answer
 * counts them, as `lpstudio show` does, zeros too; the numbers of its other keys and the
 * recipients or entries of its other lists, zeros left out), then each entry that says what went
 * wrong (a campaign's failed recipients with LivePerson's `errorMessage`, a request refused
 * whole with the addresses it held, checkouts skipped with a `reason`), then the whole of it.
 */
function resultView(job: Job): HTMLElement {
  const result = job.result ?? {};
  const counts: string[] = [];
  const problems: HTMLElement[] = [];
  for (const [key, value] of Object.entries(result)) {
    const name = key.replace(/_/g, ' ');
    if (RECIPIENT_KEYS.includes(key)) {
      // The server's count, by the rule `lpstudio show` counts by (2.5 counts none).
      const count = job.recipients?.[key];
      if (count !== undefined) {
        counts.push(`${name} ${count}`);
      }
    } else {
      const count = typeof value === 'number' ? value : Array.isArray(value) ? value.reduce((n: number, v) => n + counted(v), 0) : 0;
      if (count) {
        counts.push(`${name} ${count}`);
      } else if (value === true) {
        counts.push(name); // dry run
      }
    }
    const said = Array.isArray(value) ? value.map(problem).filter((p): p is string => p !== null) : [];
    if (said.length) {
      problems.push(el('div', { text: `${name}:` }), el('ul', {}, ...said.map(text => el('li', { text }))));
    }
  }
  return el(
    'div',
    {},
    el('div', { cls: 'lps-result-summary', text: counts.join(' · ') || 'nothing counted' }),
    problems.length
      ? el(
          'div',
          { cls: 'lps-result-problems', attrs: { 'data-box': 'problems', tabindex: '0', role: 'region', 'aria-label': `what went wrong in job ${job.id}` } },
          ...problems
        )
      : null,
    jsonBox(result, 'result', `result of job ${job.id}`)
  );
}

/** How many recipients an entry of a result's list stands for: a batch's entry (a request
 * refused whole, recipients sent before) says how many, any other entry is one. */
function counted(entry: unknown): number {
  const recipients = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).recipients : undefined;
  return typeof recipients === 'number' ? recipients : 1;
}

/** `0612345678: INVALID_NUMBER`, `0612345678 (invoice INV-1006): phone is not in E.164
 * form`, or `+14155550111, +14155550112 (batch 1): invalid template` for a batch's entry:
 * whom an entry of a result is about, and what went wrong;
 * null for an entry that says nothing went wrong. */
function problem(entry: unknown): string | null {
  if (typeof entry !== 'object' || entry === null) {
    return null;
  }
  const e = entry as Record<string, unknown>;
  const why = e.errorMessage ?? e.message ?? e.reason;
  if (why === undefined || why === null) {
    return null;
  }
  const batch = e.batch != null ? `batch ${e.batch}` : null;
  const named = Array.isArray(e.addresses) && e.addresses.length ? addresses(e.addresses) : null;
  // The ledger's account of a job that ended early counts its recipients, naming none.
  const many = typeof e.recipients === 'number' ? `${e.recipients} recipients` : null;
  const who = recipient(e) ?? (named && batch ? `${named} (${batch})` : (named ?? batch ?? many));
  return who == null ? String(why) : `${String(who)}: ${String(why)}`;
}

/** The fields an entry names its recipient by (a campaign's failed ones their `address`, a
 * template's skipped ones the contact they lacked or held badly), the first it has naming it. */
const CONTACTS = ['address', 'phone', 'email', 'consumer_id', 'consumerId'];
/** Ids an entry may carry that are not its record's: the job or campaign it came from. */
const NOT_RECORD_IDS = ['job_id', 'campaign_id'];

/**
 * Whom an entry of a result is about: its contact, with the ids of its record (`0612345678
 * (invoice INV-1006)`), or those ids alone (`checkout 3`, a checkout with no phone); null
 * for an entry naming neither (a batch's, a count's).
 */
function recipient(e: Record<string, unknown>): string | null {
  const given = (v: unknown): boolean => (typeof v === 'string' && v.trim() !== '') || typeof v === 'number';
  const contact = CONTACTS.find(k => given(e[k]));
  const ids = Object.entries(e)
    .filter(([k, v]) => k.endsWith('_id') && !CONTACTS.includes(k) && !NOT_RECORD_IDS.includes(k) && given(v))
    .map(([k, v]) => `${k.slice(0, -'_id'.length).replace(/_/g, ' ')} ${String(v)}`);
  if (contact === undefined) {
    return ids.length ? ids.join(', ') : null;
  }
  return ids.length ? `${String(e[contact])} (${ids.join(', ')})` : String(e[contact]);
}

/** A batch's addresses, the first `ADDRESSES_SHOWN` of them (as the campaign's error names
 * its campaigns), then how many more. */
function addresses(all: unknown[]): string {
  const more = all.length > ADDRESSES_SHOWN ? ` and ${all.length - ADDRESSES_SHOWN} more` : '';
  return all.slice(0, ADDRESSES_SHOWN).map(String).join(', ') + more;
}

/** What the job's error said, with a command line it names as the fix (a recipe's own error
 * may: the payment reminder's missing CSV names `lpstudio settings ... -p`) in the lab's
 * terms, as the settings form says its fixes; its traceback is left as the kernel wrote it. */
function saidInLab(job: Job): string {
  return labText(String(job.error?.evalue ?? ''), `in the Settings of ${job.recipe.replace(/\.ipynb$/, '')}`);
}

/** The job error's own fix (`jobErrorFix`), its commands said in the Settings of its recipe. */
function fixView(job: Job): HTMLElement | null {
  return jobErrorFix(job, `in the Settings of ${job.recipe.replace(/\.ipynb$/, '')}`);
}

/** The error's cell as `lpstudio show` names it (` in cell 3 of 3 (In [3])`), the Error
 * view and Details alike; none for an error of no cell. `cell` is papermill's index from 0:
 * people (and JupyterLab) count from 1. */
function cellWhere(e: JobError, total: number): string {
  if (typeof e.cell !== 'number') {
    return '';
  }
  const of = total > e.cell ? ` of ${total}` : '';
  return ` in cell ${e.cell + 1}${of}` + (e.execution_count != null ? ` (In [${e.execution_count}])` : '');
}

/** The job's error as `lpstudio show` says it (`describe_error`): `KeyError in cell 4 of 5
 * (In [3]): 'phone'`, counting cells from 1 as JupyterLab does; then its traceback. A purged
 * job's error kept only its kind and cell. */
function errorView(job: Job, total: number): HTMLElement {
  const e: JobError = job.error ?? {};
  const where = cellWhere(e, total);
  const traceback = Array.isArray(e.traceback) ? e.traceback.join('\n') : String(e.traceback ?? '');
  return el(
    'div',
    {},
    el('div', { cls: 'lps-failed-step', text: `${e.ename || 'Error'}${where}` + (e.evalue ? `: ${saidInLab(job)}` : '') }),
    fixView(job),
    job.purged ? hint("its message and traceback were purged with the job's data") : null,
    traceback
      ? el('pre', {
          cls: 'lps-traceback',
          text: traceback,
          attrs: { 'data-box': 'traceback', tabindex: '0', role: 'region', 'aria-label': `traceback of job ${job.id}` }
        })
      : null
  );
}

/** Runs `show`, which may draw a job's view again (a running job's, on every refresh), and
 * scrolls each of its boxes back where it was. */
function keepScroll(node: HTMLElement, show: () => void): void {
  const boxes = (): [string, HTMLElement][] =>
    [...node.querySelectorAll<HTMLElement>('[data-box]')].map(b => [
      `${b.closest<HTMLElement>('[data-job]')?.dataset.job}/${b.dataset.box}`,
      b
    ]);
  const was = new Map(boxes().map(([key, b]) => [key, [b.scrollTop, b.scrollLeft]]));
  show();
  for (const [key, b] of boxes()) {
    const at = was.get(key);
    if (at && (b.scrollTop !== at[0] || b.scrollLeft !== at[1])) {
      [b.scrollTop, b.scrollLeft] = at;
    }
  }
}
