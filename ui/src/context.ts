/**
 * What every panel shares: the app, the calling user's permissions, and ways to open things.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { Me } from './api';

/** What became of a job's output notebook that is not where the job wrote it (the API's
 * `output_missing`, which `lpstudio show` says as "missing: moved or deleted from history/"),
 * and the fix. */
export const OUTPUT_MISSING = 'moved or deleted from history/; put it back in history/ to open it';

/** The studio's commands (the palette, the launcher and the panels run them). */
export namespace CommandIDs {
  export const gallery = 'lpstudio:open-gallery';
  export const recipes = 'lpstudio:open-recipes';
  export const jobs = 'lpstudio:open-jobs';
  export const dashboard = 'lpstudio:open-dashboard';
  export const connections = 'lpstudio:open-connections';
  export const settings = 'lpstudio:open-settings';
  export const versions = 'lpstudio:open-versions';
  export const tryTemplate = 'lpstudio:try-template';
  export const openPanel = 'lpstudio:open-panel';
}

/** What lpstudio uses of a document widget (JupyterLab's `IDocumentWidget`). */
interface IOpenDocument {
  context: { path: string; revert(): Promise<void>; model: { dirty: boolean } };
}

export class StudioContext {
  constructor(
    readonly app: JupyterFrontEnd,
    readonly me: Me
  ) {}

  /** Emitted after anything changed recipes or jobs, so open panels refresh at once. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  notifyChanged(): void {
    this._changed.emit();
  }

  /** Opens a file of the server's tree (a notebook opens as a notebook). */
  async openPath(path: string): Promise<void> {
    await this.app.commands.execute('docmanager:open', { path: this.relative(path) });
  }

  /**
   * Opens a job's output notebook as it is now. Output notebooks are read-only (job history
   * is written by its job alone), so one already open in a tab is reloaded from disk before
   * it is shown: the tab kept the snapshot taken when it was first opened. One moved or
   * deleted is refused with the fix (JupyterLab opened an empty tab, a 404 in the console).
   */
  async openOutput(path: string): Promise<void> {
    const relative = this.relative(path);
    try {
      await this.app.serviceManager.contents.get(relative, { content: false });
    } catch (err) {
      if (err instanceof ServerConnection.ResponseError && err.response.status === 404) {
        throw new Error(`the output notebook ${relative} is missing: ${OUTPUT_MISSING}`);
      }
      throw err;
    }
    for (const open of this.openDocuments(relative)) {
      await open.context.revert();
    }
    await this.openPath(path);
  }

  /** How many tabs show a recipe's notebook, and how many of them hold unsaved changes
   * (JupyterLab counts a kernel's start among them, as it writes the notebook's metadata). */
  recipeTabs(recipe: string): { open: number; unsaved: number } {
    const open = this.openDocuments(`projects/${recipe}`);
    return { open: open.length, unsaved: open.filter(doc => doc.context.model.dirty).length };
  }

  /**
   * Reloads the tabs showing a recipe's notebook from disk, which something else wrote (a
   * restore, which says first that unsaved changes are lost): JupyterLab would notice only
   * at a tab's next save, and its "File Changed" dialog offered to write the tab over it.
   */
  async reloadRecipe(recipe: string): Promise<void> {
    await Promise.all(this.openDocuments(`projects/${recipe}`).map(doc => doc.context.revert()));
  }

  /** The main area's documents open at `path` (relative to JupyterLab's root): a notebook
   * may be open as a notebook and in the editor at once. */
  private openDocuments(path: string): IOpenDocument[] {
    return [...this.app.shell.widgets('main')].filter(widget => {
      const context = (widget as Partial<IOpenDocument>).context;
      return context?.path === path && typeof context.revert === 'function';
    }) as unknown as IOpenDocument[];
  }

  /** A path the server may answer as absolute, relative to JupyterLab's root. */
  relative(path: string): string {
    const root = (PageConfig.getOption('serverRoot') || '').replace(/\/+$/, '');
    if (root && path.startsWith(root + '/')) {
      return path.slice(root.length + 1);
    }
    const history = path.lastIndexOf('/history/');
    if (path.startsWith('/') && history >= 0) {
      return path.slice(history + 1); // the server's root is the workspace
    }
    return path;
  }

  /** Opens the Connections panel, where the lab creates, tests and edits connections. */
  async openConnections(): Promise<void> {
    await this.app.commands.execute(CommandIDs.connections);
  }

  /** Opens a recipe's versions, each with its Restore: how the lab mends a recipe whose
   * notebook no longer loads (its Settings cannot show it). */
  async openVersions(recipe: string): Promise<void> {
    await this.app.commands.execute(CommandIDs.versions, { recipe });
  }

  /** Opens a recipe notebook: recipes live under the workspace's projects/ folder. */
  async openRecipe(recipe: string): Promise<void> {
    await this.openPath(`projects/${recipe}`);
  }

  private _changed = new Signal<this, void>(this);
}
