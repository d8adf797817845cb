/**
 * The Recipes sidebar: projects, folders and recipes with their trigger kind, whether they
 * are started, and their last job; start, stop, run now and the settings form; each folder
 * exported as a package, and packages imported (`lpstudio export` / `lpstudio import`).
 */

import { api, ApiError, Connection, ImportSummary, Job, latest, Permission, Polled, Problem, RecipeRow } from './api';
import { StudioContext } from './context';
import { announced, button, el, errorBox, FieldError, fill, focusIn, focusMarked, formatTime, markField, Rows, runNow, saveDownload, statusBadge } from './dom';
import { asked, FixContext, labFix, labText, refusedIn, withLabFix } from './fixes';
import { LivePanel } from './panel';

const REFRESH_MS = 4000;

interface Folder {
  folders: Map<string, Folder>;
  recipes: RecipeRow[];
}

/** A row of the tree: a folder (its path under projects/) or a recipe. */
type Entry = { folder: string } | RecipeRow;

/** A row's key: a folder's path ends with a slash, a recipe's with .ipynb. */
function entryKey(entry: Entry): string {
  return 'folder' in entry ? `${entry.folder}/` : entry.recipe;
}

export class RecipesPanel extends LivePanel {
  constructor(
    private ctx: StudioContext,
    private openSettings: (recipe: string) => void,
    private openJobs: (recipe?: string) => void
  ) {
    super(ctx, REFRESH_MS);
    this.id = 'lpstudio-recipes';
    this.title.caption = 'lpstudio recipes';
    this.addClass('lps-panel');
    this.addClass('lps-recipes');
    const toolbar = el('div', { cls: 'lps-toolbar' }, el('h2', { text: 'Recipes' }));
    if (ctx.me.can.build) {
      toolbar.append(button('Import package', () => this.showImport(), 'lps-import'));
    }
    toolbar.append(button('Refresh', () => this.refresh(true), 'lps-refresh'));
    this.node.append(toolbar, this.importer, this.message, this.tree);
    // Escape closes the import form, as the connection editor's, the focus back on what
    // opened it.
    this.importer.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this.importer.hasChildNodes()) {
        event.preventDefault();
        event.stopPropagation();
        this.closeImport();
      }
    });
    void this.refresh();
  }


  /** Shows the recipes as they are now; `manual` (the Refresh button) also clears what the
   * last action said, which the rows now show. */
  async refresh(manual = false): Promise<void> {
    if (manual) {
      this.polled = null;
      fill(this.message);
    }
    let rows: RecipeRow[] | undefined;
    try {
      const fetched = await this.fetch();
      if (!fetched) {
        return; // a newer refresh is under way
      }
      [rows, this.connections] = fetched;
    } catch (err) {
      this.rowsOf('').clear(); // drawn again once the recipes can be fetched
      this.tree.append(errorBox(err));
      return;
    }
    // Not awaited: these rows are drawn now, never after a newer refresh has drawn its own.
    void this.followPoll();
    // Projects and their folders, from each recipe's path under projects/.
    const root: Folder = { folders: new Map(), recipes: [] };
    for (const row of rows) {
      let folder = root;
      for (const part of row.recipe.split('/').slice(0, -1)) {
        if (!folder.folders.has(part)) {
          folder.folders.set(part, { folders: new Map(), recipes: [] });
        }
        folder = folder.folders.get(part)!;
      }
      folder.recipes.push(row);
    }
    const shown = new Set<string>();
    this.showFolder(root, '', shown);
    for (const path of this.folders.keys()) {
      if (!shown.has(path)) {
        this.folders.delete(path); // a folder gone, its rows with it
      }
    }
  }

  /**
   * Shows a folder's rows (its subfolders, then its recipes), then each subfolder's. Only
   * the rows that changed are drawn again (`Rows`): the tree drawn whole took the keyboard's
   * focus from the button a user tabbed to, and after a Start the focus fell to the page.
   */
  private showFolder(folder: Folder, path: string, shown: Set<string>): void {
    shown.add(path);
    const names = [...folder.folders.keys()].sort();
    const subs = names.map(name => (path ? `${path}/${name}` : name));
    const entries: Entry[] = [...subs.map(sub => ({ folder: sub })), ...folder.recipes];
    const empty = (): HTMLElement => el('p', { cls: 'lps-hint', text: 'No recipes yet: try one from the gallery.' });
    this.rowsOf(path).show(entries, path ? undefined : empty);
    names.forEach((name, i) => this.showFolder(folder.folders.get(name)!, subs[i], shown));
  }

  /** The rows of the folder at `path` ('' the tree's own), kept while its node is shown. */
  private rowsOf(path: string): Rows<Entry> {
    return this.folders.get(path) ?? this.newRows(path, this.tree);
  }

  private newRows(path: string, node: HTMLElement): Rows<Entry> {
    const rows = new Rows<Entry>(node, entryKey, entry =>
      'folder' in entry ? this.folderNode(entry.folder) : this.recipeRow(entry)
    );
    this.folders.set(path, rows);
    return rows;
  }

  /** A project or folder, open unless the user closed it; its rows are shown by `showFolder`. */
  private folderNode(path: string): HTMLElement {
    const body = el('div', { cls: 'lps-folder-body' });
    const details = el(
      'details',
      { cls: path.includes('/') ? 'lps-folder' : 'lps-project', attrs: { 'data-project': path } },
      el('summary', { text: path.split('/').pop() ?? path }),
      this.ctx.me.can.view
        ? el(
            'div',
            { cls: 'lps-actions lps-folder-actions' },
            button('Export', () => this.exportFolder(path), 'lps-export', `project ${path}`)
          )
        : null,
      body
    );
    details.open = !this.closed.has(path); // kept when it is drawn again (after an error)
    details.addEventListener('toggle', () => (details.open ? this.closed.delete(path) : this.closed.add(path)));
    this.newRows(path, body);
    return details;
  }

  private recipeRow(row: RecipeRow): HTMLElement {
    const can = this.ctx.me.can;
    const name = row.recipe.split('/').pop() ?? row.recipe;
    // What each of the row's buttons acts on, for its accessible name: every row has a Start.
    const of = `recipe ${row.recipe.replace(/\.ipynb$/, '')}`;
    const actions = el('div', { cls: 'lps-actions' });
    if (can.operate) {
      // First of the row's controls: after a Start or Stop, the focus goes to the first one
      // of the row drawn again (`restoreFocus`), the Stop or Start that replaced it.
      actions.append(
        row.state === 'started'
          ? button('Stop', () => this.act(row, () => api.stop(row.recipe)), 'lps-stop', of)
          : button('Start', () => this.act(row, () => api.start(row.recipe)), 'lps-start', of)
      );
      if (row.trigger === 'poll') {
        actions.append(
          button(
            'Poll now',
            () =>
              this.act(row, async () => {
                // Its jobs run now, started or not, as `lpstudio poll` runs them.
                const report = await api.poll(row.recipe);
                this.openJobs(row.recipe);
                this.polled = report.jobs.some(running) ? report : null; // followed until they end
                return polled(report);
              }),
            'lps-poll',
            of
          )
        );
      }
    }
    if (can.build) {
      actions.append(
        runNow(
          row.trigger,
          () =>
            this.act(row, async () => {
              await api.run(row.recipe);
              this.openJobs(row.recipe);
            }),
          of
        )
      );
    }
    actions.append(
      button(
        can.build ? 'Settings' : 'View settings',
        () => this.openSettings(row.recipe),
        // Where a started one that cannot run is mended: its problem marked on the fields.
        row.settings_problem ? 'lps-primary lps-open-settings' : 'lps-open-settings',
        of
      ),
      button('Jobs', () => this.openJobs(row.recipe), 'lps-open-jobs', of),
      button('Open', () => this.ctx.openRecipe(row.recipe), 'lps-open', of)
    );
    if (row.restorable) {
      // Its notebook no longer loads, nor its Settings: an earlier version mends it. One
      // with no version has none to list: its problem's fix says what mends it.
      actions.append(button('Versions', () => this.ctx.openVersions(row.recipe), 'lps-open-versions', of));
    }
    const last = row.last_job;
    // What the server stored (its problem, its trigger's last error) names the API's routes
    // as its fix: said in the lab's terms, as the row's actions say theirs.
    const inLab = (text: string): string => labText(text, `in the Settings of ${row.recipe}`);
    return el(
      'div',
      { cls: 'lps-recipe', attrs: { 'data-recipe': row.recipe, 'data-state': row.state } },
      el(
        'div',
        { cls: 'lps-recipe-head' },
        el('span', { cls: 'lps-recipe-title', text: row.title || name, title: row.recipe }),
        el('span', { cls: `lps-state lps-state-${row.state}`, text: row.state })
      ),
      el(
        'div',
        { cls: 'lps-recipe-meta' },
        el('span', { cls: 'lps-chip', text: row.trigger }),
        el('span', { cls: 'lps-recipe-file', text: name }),
        el('span', { text: 'last job:' }),
        last ? statusBadge(last.status) : el('span', { cls: 'lps-hint', text: 'none' }),
        last ? el('span', { cls: 'lps-hint', text: `#${last.id}` }) : null,
        // A started schedule's next run, in the browser's time zone as every time the lab shows.
        row.next_run ? el('span', { cls: 'lps-next-run', text: `next run: ${formatTime(row.next_run)}` }) : null
      ),
      row.problem ? el('div', { cls: 'lps-problem', text: inLab(String(row.problem)) }) : null,
      row.settings_problem ? this.settingsProblem(row, row.settings_problem) : null,
      row.endpoint_problem
        ? el('div', {
            cls: 'lps-problem lps-endpoint-problem',
            // In the lab's terms: its notebook's trigger.path, or Stop on one of them.
            text: `${row.endpoint_problem.message}: change its trigger.path back, or stop one of them`
          })
        : null,
      row.name_problem
        ? el('div', {
            cls: 'lps-problem lps-name-problem',
            text: `${row.name_problem.message}: ${row.name_problem.fix}`
          })
        : null,
      row.trigger_errors?.count
        ? el('div', {
            cls: 'lps-problem',
            text: `${row.trigger_errors.count} trigger error(s): ${inLab(row.trigger_errors.last ?? '')}`
          })
        : null,
      actions
    );
  }

  /** Why a started recipe cannot run, and its fix in the lab's terms, as its Settings say
   * them (`showProblem` in settings.ts): the API's names its routes. */
  private settingsProblem(row: RecipeRow, problem: Problem): HTMLElement {
    const fix = labFix(problem.field, problem.fix, this.fixes(row, this.connections));
    return el(
      'div',
      { cls: 'lps-problem lps-settings-problem' },
      el('div', { text: `started but cannot run: ${labText(problem.message, `in the Settings of ${row.recipe}`)}` }),
      fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${fix}` }) : null
    );
  }

  /** What a fix for one recipe is said with in its row: its slots and parameters, the
   * connections there are, and its Settings as where its fields are. */
  private fixes(row: RecipeRow, connections: Connection[]): FixContext {
    return {
      slots: row.connections ?? {},
      parameters: row.parameters ?? {},
      connections,
      chosen: () => undefined,
      form: `in the Settings of ${row.recipe}`,
      can: this.ctx.me.can
    };
  }

  /**
   * A Poll now's report says how its jobs ended once they all have: "running now" would
   * contradict the rows, whose last job ended. Asked in order, up to the first still
   * running (the rest are asked at a later refresh).
   */
  private async followPoll(): Promise<void> {
    const report = this.polled;
    if (!report) {
      return;
    }
    for (const [i, job] of report.jobs.entries()) {
      if (running(job)) {
        try {
          report.jobs[i] = await api.job(job.id);
        } catch {
          return; // asked again at the next refresh
        }
        if (this.polled !== report || running(report.jobs[i])) {
          return; // another action's message, or said at a later refresh
        }
      }
    }
    this.polled = null;
    fill(this.message, polled(report));
  }

  /** An action on one recipe, which may say what it did; refused, it is said with the fix
   * in the lab's terms (its Settings, the Connections panel), not the CLI's the API names. */
  private async act(row: RecipeRow, action: () => Promise<unknown>): Promise<void> {
    fill(this.message);
    this.polled = null;
    try {
      const done = await action();
      if (done instanceof HTMLElement) {
        fill(this.message, done);
      }
      this.ctx.notifyChanged();
    } catch (err) {
      const connections = await api.connections().catch(() => []);
      fill(this.message, errorBox(withLabFix(err, this.fixes(row, connections))));
    }
  }

  /** Downloads the folder's package (recipes, data files, settings; no secrets). */
  private async exportFolder(folder: string): Promise<void> {
    fill(this.message);
    try {
      saveDownload(await api.exportPackage(folder));
    } catch (err) {
      fill(this.message, errorBox(err));
    }
  }

  /** The import form: a package, the folder to import into, whether to replace. */
  private showImport(): void {
    const file = el('input', {
      cls: 'lps-input',
      attrs: { type: 'file', name: 'package', accept: '.zip,application/zip', 'aria-label': 'Package (.zip)' }
    });
    const into = el('input', {
      cls: 'lps-input',
      attrs: { name: 'into', placeholder: 'the folder it was exported from', 'aria-label': 'Into folder' }
    });
    const replace = el('input', { attrs: { type: 'checkbox', name: 'replace' } });
    const result = el('div', { cls: 'lps-message lps-import-result' });
    const submit = async (): Promise<void> => {
      fill(result);
      markField(this.importer, null);
      const chosen = file.files?.[0];
      if (!chosen) {
        const none = new FieldError('`package`: none chosen', 'package', 'choose a package (a .zip exported from a workspace), then Import');
        fill(result, refusedIn(this.importer, none));
        focusMarked(this.importer);
        return;
      }
      try {
        const done = await api.importPackage(chosen, into.value.trim(), replace.checked);
        fill(result, importSummary(done, this.ctx.me.can));
        this.ctx.notifyChanged();
      } catch (err) {
        fill(result, refusedIn(this.importer, inLabTerms(err)));
        focusMarked(this.importer);
      }
    };
    fill(
      this.importer,
      el('h3', { text: 'Import package' }),
      el(
        'p',
        { cls: 'lps-hint' },
        'Recipes arrive stopped; connections this workspace lacks arrive as placeholders, without their secrets.'
      ),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'package' } }, el('span', { cls: 'lps-field-label', text: 'Package (.zip) *' }), file),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'into' } }, el('span', { cls: 'lps-field-label', text: 'Into folder' }), into),
      el('label', { cls: 'lps-field lps-check' }, replace, el('span', { text: 'Replace existing recipes (and their settings)' })),
      el(
        'div',
        { cls: 'lps-actions' },
        button('Import', submit, 'lps-primary lps-import-submit'),
        button('Close', () => this.closeImport())
      ),
      result
    );
    focusIn(this.importer);
  }

  /** Closes the import form, the focus back on its Import package (closed, the form's
   * Close took it to the page). */
  private closeImport(): void {
    fill(this.importer);
    focusIn(this.node, 'Import package');
  }

  private closed = new Set<string>();
  /** the rows of each folder shown, by its path ('' the tree's own) */
  private folders = new Map<string, Rows<Entry>>();
  /** The recipes, and the connections when a started one's settings problem is about a
   * slot (its fix in the lab's terms names them, `labFix`): asked only then. */
  private fetch = latest(async (): Promise<[RecipeRow[], Connection[]]> => {
    const rows = await api.recipes();
    const slotted = rows.some(r => r.settings_problem?.field?.startsWith('connections.'));
    return [rows, slotted ? await api.connections().catch(() => []) : []];
  });
  /** The connections the rows' fixes were said with (`fetch`). */
  private connections: Connection[] = [];
  private message = el('div', { cls: 'lps-message' });
  /** the Poll now the message reports, its jobs as last asked, while any still runs */
  private polled: Polled | null = null;
  private tree = el('div', { cls: 'lps-tree' });
  private importer = el('div', { cls: 'lps-editor lps-importer' });
}

function running(job: Job): boolean {
  return job.status === 'queued' || job.status === 'running';
}

/** What a Poll now queued: a job per new event (or batch), each running now; once they all
 * ended, how each ended. Then the events its conditions could not compare, which started no
 * job, each with its fix, as `lpstudio poll` warns of them. */
function polled({ jobs, warnings }: Polled): HTMLElement {
  const count = `${jobs.length} new job${jobs.length === 1 ? '' : 's'} from the poll`;
  const text = !jobs.length
    ? warnings.length
      ? 'No new jobs from the poll.'
      : 'No new events.'
    : jobs.some(running)
      ? `${count}, running now: ${jobs.map(j => `#${j.id}`).join(', ')}`
      : `${count}: ${jobs.map(j => `#${j.id} ${j.status}`).join(', ')}`;
  const ok = jobs.every(j => j.status === 'succeeded' || running(j));
  return el(
    'div',
    {},
    el('div', { cls: ok ? 'lps-ok' : 'lps-problem', attrs: { role: 'status' }, text }),
    ...warnings.map(w =>
      el(
        'div',
        { cls: 'lps-warning', attrs: announced(false) },
        el('div', { text: `warning: ${labText(w.message)}` }),
        w.fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${labText(w.fix)}` }) : null
      )
    )
  );
}

/** What an import wrote, and what is left to do, in the lab's terms. */
function importSummary(done: ImportSummary, can: Record<Permission, boolean>): HTMLElement {
  const count = done.recipes.length;
  const authorise = asked('give its secrets with Edit in the Connections panel, then Test it', 'build', can);
  return el(
    'div',
    { cls: 'lps-import-summary', attrs: { role: 'status' } },
    el('strong', { text: `Imported ${count} recipe${count === 1 ? '' : 's'} into ${done.into}, stopped.` }),
    el(
      'ul',
      {},
      ...done.recipes.map(r =>
        el(
          'li',
          { attrs: { 'data-recipe': r.recipe } },
          `${r.recipe}${r.replaced ? ' (replaced)' : ''}`,
          ...r.notes.map(note => el('div', { cls: 'lps-hint', text: `note: ${note}` }))
        )
      ),
      ...done.connections.map(c =>
        el(
          'li',
          { attrs: { 'data-connection': c.name, 'data-status': c.status } },
          `connection ${c.name} (${c.type}): `,
          c.status === 'placeholder'
            ? el('span', { cls: 'lps-problem', text: `${c.created ? 'created as' : 'still'} a placeholder: ${authorise}` })
            : c.created
              ? 'created (no secrets): Test it in the Connections panel'
              : "bound to this workspace's"
        )
      )
    )
  );
}

/** An import's refusal with its fix in the form's terms, not the REST API's parameters
 * (`refusedIn` then says the routes it names in the lab's). */
function inLabTerms(err: unknown): unknown {
  if (!(err instanceof ApiError) || !err.fix) {
    return err;
  }
  const fix = err.fix
    .replace(/post it again with replace=true/g, 'tick "Replace existing recipes"')
    .replace(/(post it again with )?into=FOLDER \(another folder\)/g, 'give another folder under "Into folder"');
  return new ApiError(err.status, err.code, err.message, err.field, fix);
}
