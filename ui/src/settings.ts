/**
 * A recipe's settings form: its parameter values, which connection fills each slot and,
 * for a poll trigger, where it starts; with Save, Test (its connections, then a test run that
 * sends nothing), Start/Stop and Run now. The settings live in the store, never in the notebook.
 */
import { Widget } from '@lumino/widgets';

import { api, ApiError, Connection, Problem, RecipeDetail } from './api';
import { StudioContext } from './context';
import { button, el, errorBox, fill, markField, statusBadge } from './dom';
import { SchemaForm } from './form';

export class SettingsPanel extends Widget {
  constructor(
    private ctx: StudioContext,
    readonly recipe: string,
    private openJobs: (recipe?: string) => void
  ) {
    super();
    this.id = `lpstudio-settings-${recipe.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    this.title.label = `Settings: ${recipe.split('/').pop()}`;
    this.title.caption = recipe;
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-settings');
    this.node.append(this.body);
    void this.load();
  }

  async load(): Promise<void> {
    try {
      const detail = await api.recipe(this.recipe);
      const connections = await api.connections();
      this.render(detail, connections);
    } catch (err) {
      fill(this.body, errorBox(err));
    }
  }

  private render(detail: RecipeDetail, connections: Connection[]): void {
    const can = this.ctx.me.can;
    const readOnly = !can.build;
    const bound = detail.settings.connections ?? {};
    const slots = new Map<string, HTMLSelectElement>();
    const slotRows = Object.entries(detail.connections ?? {}).map(([slot, info]) => {
      const select = el('select', { cls: 'lps-input', attrs: { name: `connection-${slot}` } });
      select.append(el('option', { text: '(none)', attrs: { value: '' } }));
      for (const c of connections.filter(c => c.type === info.type)) {
        select.append(el('option', { text: `${c.name} (${c.status})`, attrs: { value: c.name } }));
      }
      select.value = bound[slot] ?? '';
      select.disabled = readOnly;
      slots.set(slot, select);
      return el(
        'label',
        { cls: 'lps-field', attrs: { 'data-field': `connection-${slot}` } },
        el('span', { cls: 'lps-field-label', text: info.label ? `${info.label} (${slot})` : slot }),
        select,
        el('span', { cls: 'lps-field-help', text: `a ${info.type} connection` })
      );
    });
    const byName = new Map(connections.map(c => [c.name, c]));
    const form = new SchemaForm(detail.parameters ?? {}, detail.settings.parameters ?? {}, {
      readOnly,
      picklist: prop => {
        const spec = prop['x-picklist']!;
        const name = slots.get(spec.connection)?.value || bound[spec.connection];
        return name && byName.has(name) ? api.picklist(name, spec.list) : null;
      }
    });
    const since = el('input', { cls: 'lps-input', attrs: { name: 'since', placeholder: 'e.g. 2h or 2026-01-01T00:00:00Z' } });
    let savedSince = detail.settings.since ?? '';
    let savedNames = Object.keys(detail.settings.parameters ?? {});
    since.value = savedSince;
    since.disabled = readOnly;
    const isPoll = detail.trigger?.kind === 'poll';
    const message = el('div', { cls: 'lps-message' });
    const problem = el('div', { cls: 'lps-problem lps-settings-problem' });
    /** Why the saved settings cannot run yet, with the fix, and the input it is about. */
    const showProblem = (p: Problem | null): void => {
      fill(
        problem,
        p ? el('div', { text: `incomplete: ${p.message}` }) : null,
        p?.fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${p.fix}` }) : null
      );
      problem.hidden = !p;
      markField(this.body, p?.field);
    };

    const save = async (): Promise<boolean> => {
      fill(message);
      markField(this.body, null);
      let parameters: Record<string, unknown>;
      try {
        parameters = form.value();
      } catch (err) {
        fill(message, errorBox(err));
        return false;
      }
      const chosen: Record<string, string> = {};
      for (const [slot, select] of slots) {
        if (select.value) {
          chosen[slot] = select.value;
        }
      }
      try {
        const body: { parameters: Record<string, unknown>; connections: Record<string, string>; since?: string; reset?: string[] } = {
          parameters,
          connections: chosen
        };
        // A saved value whose field was cleared is forgotten: the notebook's default again
        // (leaving it out would keep the saved value).
        const cleared = savedNames.filter(name => !(name in parameters));
        if (cleared.length) {
          body.reset = cleared;
        }
        // Sent only when changed: once the recipe has started, its since is fixed, and the
        // API refuses any save that names one.
        if (isPoll && since.value.trim() && since.value.trim() !== savedSince) {
          body.since = since.value.trim();
        }
        const saved = await api.saveSettings(this.recipe, body);
        showProblem(saved.settings_problem);
        savedSince = since.value = saved.settings.since ?? '';
        savedNames = Object.keys(saved.settings.parameters ?? {});
        fill(message, el('div', { cls: 'lps-ok', text: 'Settings saved.' }));
        this.ctx.notifyChanged();
        return true;
      } catch (err) {
        fill(message, errorBox(err));
        markField(this.body, err instanceof ApiError ? err.field : null);
        return false;
      }
    };

    /** Test: the saved settings, each chosen connection tested, then the recipe run once
     * in test mode on a recent trigger event (its actions send nothing). */
    const test = async (): Promise<void> => {
      if (!(await save())) {
        return;
      }
      const results = el('ul', { cls: 'lps-test-results' });
      fill(message, results);
      for (const name of [...slots.values()].map(s => s.value).filter(Boolean)) {
        try {
          const c = await api.testConnection(name);
          results.append(
            el('li', { attrs: { 'data-connection': name } }, `${name}: `, statusBadge(c.status), ` ${c.status_message ?? ''}`)
          );
        } catch (err) {
          results.append(el('li', {}, `${name}: `, errorBox(err)));
        }
      }
      const line = el('li', { cls: 'lps-test-run', text: 'test run: queued' });
      results.append(line);
      try {
        let job = await api.test(this.recipe);
        // Followed while the panel is open; closed, it stops asking.
        while ((job.status === 'queued' || job.status === 'running') && !this.isDisposed) {
          fill(line, `test run (job ${job.id}): `, statusBadge(job.status));
          await new Promise(resolve => setTimeout(resolve, 500));
          job = await api.job(job.id);
        }
        fill(line, `test run (job ${job.id}): `, statusBadge(job.status));
        line.setAttribute('data-status', job.status);
        if (job.error) {
          line.append(el('div', { cls: 'lps-error', text: `${job.error.ename}: ${job.error.evalue}` }));
        }
        if (job.result !== null && job.result !== undefined) {
          line.append(el('pre', { cls: 'lps-result', text: JSON.stringify(job.result, null, 2) }));
        }
        if (job.output_path) {
          line.append(button('Open output', () => this.ctx.openPath(job.output_path!), 'lps-output'));
        }
      } catch (err) {
        fill(line, 'test run: ', errorBox(err));
      }
    };

    const act = async (action: () => Promise<unknown>): Promise<void> => {
      fill(message);
      try {
        await action();
        this.ctx.notifyChanged();
        await this.load();
      } catch (err) {
        fill(message, errorBox(err));
      }
    };

    const actions = el('div', { cls: 'lps-actions' });
    if (can.build) {
      actions.append(button('Save', async () => void (await save()), 'lps-primary lps-save'));
      actions.append(button('Test', test, 'lps-test'));
      actions.append(
        button(
          'Run now',
          () =>
            act(async () => {
              await api.run(this.recipe);
              this.openJobs(this.recipe);
            }),
          'lps-run'
        )
      );
    }
    if (can.operate) {
      actions.append(
        detail.state === 'started'
          ? button('Stop', () => act(() => api.stop(this.recipe)), 'lps-stop')
          : button('Start', () => act(() => api.start(this.recipe)), 'lps-start')
      );
    }
    actions.append(button('Open notebook', () => this.ctx.openRecipe(this.recipe), 'lps-open'));

    const trigger = Object.entries(detail.trigger ?? {})
      .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(', ');
    fill(
      this.body,
      el('h2', { text: detail.title || this.recipe }),
      el('div', { cls: 'lps-hint', text: detail.recipe }),
      el('p', { text: detail.description }),
      el(
        'div',
        { cls: 'lps-recipe-meta' },
        el('span', { cls: `lps-state lps-state-${detail.state}`, text: detail.state, attrs: { 'data-state': detail.state } }),
        el('span', { cls: 'lps-chip', text: `trigger ${trigger}` }),
        detail.last_job ? el('span', {}, 'last job: ', statusBadge(detail.last_job.status)) : null
      ),
      problem,
      el('h3', { text: 'Connections' }),
      ...slotRows,
      isPoll ? el('h3', { text: 'Trigger' }) : null,
      isPoll
        ? el(
            'label',
            { cls: 'lps-field', attrs: { 'data-field': 'since' } },
            el('span', { cls: 'lps-field-label', text: 'Since' }),
            since,
            el('span', { cls: 'lps-field-help', text: 'where the poll starts, until the recipe is started' })
          )
        : null,
      el('h3', { text: 'Parameters' }),
      form.node,
      actions,
      message
    );
    showProblem(detail.settings_problem);
  }

  private body = el('div', { cls: 'lps-settings-body' });
}
