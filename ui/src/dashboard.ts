/**
 * The Dashboard: jobs per day by status, per-recipe successes and failures, Proactive
 * volumes and connection status over a chosen range, drawn with Chart.js. A chart's figures
 * are also a table under it (its Figures): a canvas says them only on hover, to a mouse.
 */
import { Chart, ChartConfiguration, registerables } from 'chart.js';
import { tableRowsIcon } from '@jupyterlab/ui-components';

import { api, Dashboard, JOB_STATES, latest } from './api';
import { StudioContext } from './context';
import { button, el, errorBox, fill } from './dom';
import { labError } from './fixes';
import { LivePanel } from './panel';

Chart.register(...registerables);

/** Each state's colour: the theme's variable, read when a chart is drawn (`Theme`), so the
 * bars follow the lab's theme as the status chips do. */
const COLOURS: Record<string, string> = {
  queued: '--jp-layout-color4',
  running: '--jp-brand-color1',
  succeeded: '--jp-success-color1',
  failed: '--jp-error-color1',
  cancelled: '--jp-warn-color1',
  connected: '--jp-success-color1',
  disconnected: '--jp-error-color1',
  untested: '--jp-layout-color4',
  placeholder: '--jp-warn-color2',
  accepted: '--jp-success-color1'
};
/** A state with no colour of its own. */
const OTHER = '--jp-info-color1';
const REFRESH_MS = 5000;
/** A chart's height (as .lps-chart-area's), and the room the per-recipe chart gives each
 * recipe's bar and name beyond its axis. */
const CHART_PX = 240;
const RECIPE_ROW_PX = 22;
const AXIS_PX = 48;

/** The lab's theme as Chart.js needs it: Chart.js draws on a canvas, which CSS never reaches,
 * and its own defaults (grey text, black grid) are for a light page. */
class Theme {
  constructor(private node: HTMLElement) {}

  /** The value of the theme's CSS variable `name` where the panel is. */
  colour(name: string): string {
    return getComputedStyle(this.node).getPropertyValue(name).trim();
  }

  state(state: string): string {
    return this.colour(COLOURS[state] ?? OTHER);
  }

  /** `config`'s options with the theme's text, grid and border colours. */
  options(config: ChartConfiguration): ChartConfiguration['options'] {
    const text = this.colour('--jp-ui-font-color1');
    const grid = this.colour('--jp-border-color2');
    const options = { ...config.options, color: text, borderColor: grid } as Record<string, unknown>;
    const scales = (config.options?.scales ?? {}) as Record<string, Record<string, unknown>>;
    options.scales = Object.fromEntries(
      Object.entries(scales).map(([axis, scale]) => [
        axis,
        {
          ...scale,
          ticks: { ...(scale.ticks as object), color: text },
          grid: { color: grid },
          border: { color: grid }
        }
      ])
    );
    // A doughnut's slices are parted by the page's colour, not white.
    options.elements = { arc: { borderColor: this.colour('--jp-layout-color1') } };
    return options as ChartConfiguration['options'];
  }
}

export class DashboardPanel extends LivePanel {
  constructor(ctx: StudioContext) {
    super(ctx, REFRESH_MS);
    this.id = 'lpstudio-dashboard';
    this.title.label = 'Dashboard';
    this.title.icon = tableRowsIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-dashboard');
    // Its days are UTC days, as the server counts them: labelled as the notebook's
    // Dashboard widget labels them (lpstudio/widgets/dashboard.py, range_label).
    for (const days of [1, 7, 30, 90, 366]) {
      const label = days === 1 ? 'today (UTC)' : `last ${days} days (UTC)`;
      this.days.append(el('option', { text: label, attrs: { value: String(days) } }));
    }
    this.days.value = '7';
    this.days.addEventListener('change', () => void this.refresh());
    this.node.append(
      el(
        'div',
        { cls: 'lps-toolbar' },
        el('h2', { text: 'Dashboard' }),
        this.days,
        button('Refresh', () => this.refresh(), 'lps-refresh')
      ),
      this.message,
      this.totals,
      el(
        'div',
        { cls: 'lps-charts' },
        this.chartBox('Jobs per day (UTC), by status', 'perDay'),
        this.chartBox('Per recipe: succeeded and failed', 'perRecipe'),
        this.chartBox('Proactive recipients per day (UTC)', 'proactive'),
        this.chartBox('Connections', 'connections')
      )
    );
    void this.refresh();
  }

  dispose(): void {
    for (const chart of this.charts.values()) {
      chart.destroy();
    }
    super.dispose();
  }

  async refresh(): Promise<void> {
    let data: Dashboard | undefined;
    try {
      data = await this.fetch(Number(this.days.value));
      if (!data) {
        return; // a newer refresh (another period) is under way
      }
      fill(this.message);
    } catch (err) {
      fill(this.message, errorBox(labError(err)));
      return;
    }
    this.renderTotals(data);
    this.draw('perDay', this.perDay(data), 'day (UTC)');
    this.fitRecipes(data.recipes.length);
    this.draw('perRecipe', this.perRecipe(data), 'recipe');
    this.draw('proactive', this.proactive(data), 'day (UTC)');
    this.draw('connections', this.connections(data), 'state', Object.keys(data.connections));
  }

  private renderTotals(data: Dashboard): void {
    const totals: Record<string, number> = {};
    for (const row of data.jobs_per_day) {
      totals[row.status] = (totals[row.status] ?? 0) + row.count;
    }
    const accepted = data.proactive.reduce((n, r) => n + (r.accepted ?? 0), 0);
    const all = Object.values(totals).reduce((a, b) => a + b, 0);
    fill(
      this.totals,
      this.total('jobs', all),
      ...JOB_STATES.map(s => this.total(s, totals[s] ?? 0)),
      this.total('recipients accepted', accepted)
    );
  }

  private total(label: string, n: number): HTMLElement {
    return el(
      'div',
      { cls: 'lps-total', attrs: { 'data-total': label } },
      el('div', { cls: 'lps-total-count', text: String(n) }),
      el('div', { cls: 'lps-total-label', text: label })
    );
  }

  private perDay(data: Dashboard): ChartConfiguration {
    const days = [...new Set(data.jobs_per_day.map(r => r.day))].sort();
    return {
      type: 'bar',
      data: {
        labels: days,
        datasets: JOB_STATES.map(status => ({
          label: status,
          backgroundColor: this.theme.state(status),
          data: days.map(day =>
            data.jobs_per_day.filter(r => r.day === day && r.status === status).reduce((n, r) => n + r.count, 0)
          )
        }))
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    };
  }

  /** Grows the per-recipe chart with the number of recipes: Chart.js names only some bars
   * where their names do not fit, and a bar no name labels says nothing. */
  private fitRecipes(count: number): void {
    const area = this.canvases.get('perRecipe')!.parentElement!;
    area.style.height = `${Math.max(CHART_PX, AXIS_PX + count * RECIPE_ROW_PX)}px`;
  }

  private perRecipe(data: Dashboard): ChartConfiguration {
    return {
      type: 'bar',
      data: {
        labels: data.recipes.map(r => r.recipe),
        datasets: (['succeeded', 'failed'] as const).map(k => ({
          label: k,
          backgroundColor: this.theme.state(k),
          data: data.recipes.map(r => r[k])
        }))
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true, ticks: { autoSkip: false } } } }
    };
  }

  private proactive(data: Dashboard): ChartConfiguration {
    return {
      type: 'bar',
      data: {
        labels: data.proactive.map(r => r.day),
        datasets: (['accepted', 'failed'] as const).map(k => ({
          label: k,
          backgroundColor: this.theme.state(k),
          data: data.proactive.map(r => r[k])
        }))
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    };
  }

  private connections(data: Dashboard): ChartConfiguration {
    const states = Object.keys(data.connections);
    return {
      type: 'doughnut',
      data: {
        labels: states.map(s => `${s}: ${data.connections[s]}`),
        datasets: [{ label: 'connections', data: states.map(s => data.connections[s]), backgroundColor: states.map(s => this.theme.state(s)) }]
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false }
    };
  }

  private chartBox(title: string, key: string): HTMLElement {
    const canvas = el('canvas', { attrs: { 'aria-label': title, role: 'img' } });
    this.canvases.set(key, canvas);
    const figures = el('div');
    this.figures.set(key, figures);
    this.titles.set(key, title);
    return el(
      'div',
      { cls: 'lps-chart', attrs: { 'data-chart': key } },
      el('h3', { text: title }),
      el('div', { cls: 'lps-chart-area' }, canvas),
      // Named for its chart: a screen reader's list of the page's controls had four alike.
      el('details', { cls: 'lps-figures' }, el('summary', { text: `Figures: ${title}` }), figures)
    );
  }

  /** Draws the chart at `key` and writes its figures, by `rows` (what its labels are), or
   * by `names` where its labels say more (a doughnut's, with their counts). */
  private draw(key: string, config: ChartConfiguration, rows: string, names?: string[]): void {
    this.tabulate(key, figuresTable(this.titles.get(key)!, config, rows, names ?? (config.data.labels as string[])));
    config.options = this.theme.options(config);
    const chart = this.charts.get(key);
    if (chart) {
      chart.data = config.data;
      chart.options = config.options!;
      chart.update();
      return;
    }
    this.charts.set(key, new Chart(this.canvases.get(key)!, config));
  }

  /** Draws the charts again in the lab's theme: called when it changes (a refresh does too,
   * but only every few seconds). */
  retheme(): void {
    void this.refresh();
  }

  /** Puts `table` under the chart at `key` unless it says what the one there says: a refresh
   * every few seconds would otherwise move a screen reader's place in it. */
  private tabulate(key: string, table: HTMLElement): void {
    const holder = this.figures.get(key)!;
    if (!holder.firstElementChild?.isEqualNode(table)) {
      fill(holder, table);
    }
  }

  private days = el('select', { cls: 'lps-input', attrs: { name: 'days', 'aria-label': 'Period' } });
  private fetch = latest(api.dashboard);
  private message = el('div', { cls: 'lps-message' });
  private totals = el('div', { cls: 'lps-totals' });
  private canvases = new Map<string, HTMLCanvasElement>();
  private figures = new Map<string, HTMLElement>();
  private titles = new Map<string, string>();
  private charts = new Map<string, Chart>();
  private theme = new Theme(this.node);
}

/** A chart's figures as a table captioned `title` (the chart's, which a screen reader says
 * on entering it): a row for each of its `names` (`rows` says what they are), a column for
 * each dataset; or that it has none. */
function figuresTable(title: string, config: ChartConfiguration, rows: string, names: string[]): HTMLElement {
  if (names.length === 0) {
    return el('p', { text: 'none' });
  }
  const sets = config.data.datasets;
  return el(
    'table',
    { cls: 'lps-table' },
    el('caption', { text: title }),
    el('thead', {}, el('tr', {}, ...[rows, ...sets.map(set => String(set.label))].map(name => el('th', { text: name, attrs: { scope: 'col' } })))),
    el(
      'tbody',
      {},
      ...names.map((name, i) =>
        el('tr', {}, el('th', { text: name, attrs: { scope: 'row' } }), ...sets.map(set => el('td', { text: String(set.data[i] ?? 0) })))
      )
    )
  );
}
