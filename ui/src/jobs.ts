/**
 * The Jobs panel: a table of jobs (status, recipe, start, duration, trigger, user) with
 * filters, paging and live updates; progress of running jobs; the output notebook; rerun
 * and cancel; the error of a failed or cancelled job. A job purged after the retention period
 * keeps its status, times and the error's kind and cell: its row says so and offers nothing
 * that needs what was erased.
 */

import { api, ApiError, Job, JOB_STATES, latest } from './api';
import { StudioContext } from './context';
import { button, el, errorBox, fill, formatDuration, formatTime, markField, Rows, statusBadge } from './dom';
import { LivePanel } from './panel';

const PAGE = 20;
const REFRESH_MS = 2000;
/** As `lpstudio show` says it of a purged job. */
const PURGED = 'data and output erased after the retention period (no rerun)';

export class JobsPanel extends LivePanel {
  constructor(private ctx: StudioContext) {
    super(ctx, REFRESH_MS);
    this.id = 'lpstudio-jobs';
    this.title.label = 'Jobs';
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
      ['30d', 'last 30 days']
    ]) {
      this.since.append(el('option', { text: label, attrs: { value } }));
    }
    this.recipe.placeholder = 'recipe, e.g. shop/cart_abandonment';
    for (const input of [this.status, this.since]) {
      input.addEventListener('change', () => this.filter());
    }
    this.recipe.addEventListener('change', () => this.filter());

    this.node.append(
      el(
        'div',
        { cls: 'lps-toolbar' },
        el('h2', { text: 'Jobs' }),
        el('span', { attrs: { 'data-field': 'recipe' } }, this.recipe), // marked when refused
        this.status,
        this.since,
        button('Refresh', () => this.refresh(), 'lps-refresh')
      ),
      this.message,
      this.notice,
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
      ),
      el('div', { cls: 'lps-pager' }, this.prev, this.page, this.next),
      this.details
    );
    void this.refresh();
  }

  /** Shows one recipe's jobs (or all). */
  showRecipe(recipe?: string): void {
    this.recipe.value = recipe ?? '';
    this.filter();
  }


  async refresh(): Promise<void> {
    try {
      const answer = await this.fetch({
        recipe: this.recipe.value.trim() || undefined,
        status: this.status.value || undefined,
        since: this.since.value || undefined,
        limit: PAGE + 1,
        offset: this.offset
      });
      if (!answer) {
        return; // a newer refresh (another page or filter) is under way
      }
      fill(this.message);
      markField(this.node, null);
      const jobs = answer.jobs.slice(0, PAGE);
      // Only the jobs that changed are drawn again (a running job's progress, say): the
      // others keep their buttons, and the one a user tabbed to keeps the focus.
      this.rows.show(jobs, () => el('tr', {}, el('td', { cls: 'lps-hint', text: 'No jobs.', attrs: { colspan: '9' } })));
      this.rows.node.dataset.count = String(jobs.length);
      this.shown = this.offset;
      this.more = answer.jobs.length > PAGE;
      this.page.textContent = jobs.length
        ? `jobs ${this.offset + 1}–${this.offset + jobs.length}`
        : '';
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && err.field === 'recipe') {
        // A recipe the server finds under no reading of the name typed: said under the
        // filter, which is marked, and no rows (they were another filter's), not "No jobs.".
        this.refused();
        markField(this.node, err.field);
        fill(this.message, errorBox(inLabTerms(err)));
      } else if (this.offset !== this.shown) {
        // The page asked for did not come: said until the next click (the timer's refresh
        // of the page on screen would wipe it at once), and the pager goes on from there.
        this.offset = this.shown;
        fill(this.notice, errorBox(err));
      } else {
        fill(this.message, errorBox(err));
      }
    }
    this.prev.disabled = this.shown === 0;
    this.next.disabled = !this.more;
  }

  /** No rows and no pages: the filter was refused. */
  private refused(): void {
    this.rows.clear();
    this.rows.node.dataset.count = '0';
    this.offset = this.shown = 0;
    this.more = false;
    this.page.textContent = '';
  }

  /** Another page: the pager waits for its answer, which says what lies either side. */
  private turn(delta: number): void {
    this.offset = Math.max(0, this.offset + delta);
    this.prev.disabled = this.next.disabled = true;
    fill(this.notice);
    void this.refresh();
  }

  private filter(): void {
    this.offset = 0;
    fill(this.notice);
    fill(this.details); // another selection: the details of a job shown before go
    void this.refresh();
  }

  private row(job: Job): HTMLElement {
    const can = this.ctx.me.can;
    const actions = el('td', { cls: 'lps-actions' });
    const of = `job ${job.id}`; // every row has its Rerun: each names its job
    if (job.purged) {
      // A rerun needs its parameters and event, Open output its notebook: both are gone.
      actions.append(el('span', { cls: 'lps-hint lps-purged', text: 'purged', title: PURGED }));
    } else if (job.output_path) {
      actions.append(button('Open output', () => this.ctx.openPath(job.output_path!), 'lps-output', of));
    }
    if (job.status === 'failed' || job.error) {
      actions.append(button('Error', () => this.showError(job), 'lps-error-button', of));
    }
    if (can.operate && !job.purged && ['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      actions.append(button('Rerun', () => this.act(() => api.rerun(job.id)), 'lps-rerun', of));
    }
    if (can.operate && (job.status === 'queued' || job.status === 'running')) {
      actions.append(button('Cancel', () => this.act(() => api.cancel(job.id)), 'lps-cancel', of));
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
      el('td', { text: job.recipe }),
      el('td', { text: formatTime(job.started_at ?? job.created_at) }),
      el('td', { text: formatDuration(job.duration) }),
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
    const said = e.evalue ? `: ${e.evalue}` : '';
    fill(
      this.details,
      el('h3', { text: `Job ${job.id} ${job.status}` }),
      el('div', { cls: 'lps-error-message', text: `${e.ename ?? 'Error'}${said}` }),
      // `cell` is papermill's index from 0; people (and JupyterLab) count from 1.
      typeof e.cell === 'number'
        ? el('div', {
            text:
              `in cell ${e.cell + 1}` +
              (e.execution_count != null ? ` (In [${e.execution_count}])` : '')
          })
        : null,
      job.purged
        ? el('div', {
            cls: 'lps-hint lps-purged-error',
            text: "The error's message and traceback were purged after the retention period, with the job's data and output."
          })
        : null,
      // The API answers tracebacks as plain text (`plain_error`: no terminal colours).
      traceback ? el('pre', { cls: 'lps-traceback', text: traceback }) : null,
      button('Close', () => fill(this.details))
    );
  }

  /** A rerun or cancel: its error stays until the next one (refreshes do not clear it). */
  private async act(action: () => Promise<unknown>): Promise<void> {
    fill(this.notice);
    try {
      await action();
      this.ctx.notifyChanged();
    } catch (err) {
      fill(this.notice, errorBox(err));
    }
  }

  private fetch = latest(api.jobs);
  private recipe = el('input', { cls: 'lps-input', attrs: { name: 'recipe', 'aria-label': 'Recipe' } });
  private status = el('select', { cls: 'lps-input', attrs: { name: 'status', 'aria-label': 'Status' } });
  private since = el('select', { cls: 'lps-input', attrs: { name: 'since', 'aria-label': 'Started' } });
  private rows = new Rows<Job>(el('tbody'), job => String(job.id), job => this.row(job));
  /** why the list cannot be refreshed (until it can), and what a click could not do */
  private message = el('div', { cls: 'lps-message' });
  private notice = el('div', { cls: 'lps-message lps-notice' });
  private details = el('div', { cls: 'lps-details' });
  // Not `button`s: those enable themselves again once the click's work is done, which
  // would undo the refresh disabling Next on the last page (or Previous on the first).
  private prev = el('button', { cls: 'jp-Button lps-button', text: 'Previous', attrs: { type: 'button' }, onclick: () => this.turn(-PAGE) });
  private next = el('button', { cls: 'jp-Button lps-button', text: 'Next', attrs: { type: 'button' }, onclick: () => this.turn(PAGE) });
  private page = el('span', { cls: 'lps-hint' });
  /** the page asked for, and the one on screen with whether another page follows it */
  private offset = 0;
  private shown = 0;
  private more = false;
}

/** A refused recipe filter's fix in the lab's terms: the API names its own list of recipes. */
function inLabTerms(err: ApiError): ApiError {
  const fix = err.fix?.replace('as GET /lpstudio/api/v1/recipes lists it', "as the jobs' rows name it") ?? null;
  return new ApiError(err.status, err.code, err.message, err.field, fix);
}
