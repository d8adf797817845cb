/**
 * lpstudio's studio in JupyterLab: the gallery (launcher section, panel and first-time
 * pop-up), the Recipes sidebar, the Jobs, Dashboard and Connections panels, and each
 * recipe's Settings and Versions.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IThemeManager, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import {
  extensionIcon,
  inspectorIcon,
  listIcon,
  runningIcon,
  settingsIcon,
  tableRowsIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, Me, Template } from './api';
import { ConnectionsPanel } from './connections';
import { CommandIDs, StudioContext } from './context';
import { DashboardPanel } from './dashboard';
import { GalleryPanel, showGalleryPopup, tryTemplate } from './gallery';
import { JobsPanel } from './jobs';
import { RecipesPanel } from './recipes';
import { SettingsPanel } from './settings';
import { VersionsPanel } from './versions';

const PLUGIN_ID = 'lpstudio-studio:plugin';
const CATEGORY = 'lpstudio';

/** Who we are when the API cannot say (no workspace): nothing but viewing. */
const NOBODY: Me = {
  name: '',
  role: 'operator',
  can: { view: true, operate: false, build: false, admin: false },
  gallery_popup: false
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "lpstudio's studio: gallery, recipes, jobs, dashboard and connections",
  autoStart: true,
  optional: [ILauncher, ICommandPalette, ILayoutRestorer, IThemeManager],
  activate: async (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    themes: IThemeManager | null
  ) => {
    let me = NOBODY;
    try {
      me = await api.me();
    } catch (err) {
      console.warn('lpstudio: the studio cannot reach its API', err);
    }
    const ctx = new StudioContext(app, me);
    const main = new Map<string, MainAreaWidget<Widget>>();
    // The main-area panels, by their key, for JupyterLab's layout restorer: a reload of the
    // page opens them again, as it does notebooks (`CommandIDs.openPanel`).
    const tracker = new WidgetTracker<MainAreaWidget<Widget>>({ namespace: 'lpstudio' });
    const keys = new WeakMap<Widget, string>();

    /** Opens (or brings forward) one main-area panel. */
    const open = <T extends Widget>(key: string, make: () => T): T => {
      let widget = main.get(key);
      if (!widget || widget.isDisposed) {
        const content = make();
        widget = new MainAreaWidget({ content });
        widget.id = `${content.id}-main`;
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
        widget.title.icon = content.title.icon;
        widget.title.closable = true;
        main.set(key, widget);
        keys.set(widget, key);
        app.shell.add(widget, 'main');
        void tracker.add(widget);
      }
      app.shell.activateById(widget.id);
      return widget.content as T;
    };

    // The Dashboard's charts are drawn on canvases, which the theme's CSS never reaches.
    themes?.themeChanged.connect(() => {
      const dashboard = main.get('dashboard');
      if (dashboard && !dashboard.isDisposed) {
        (dashboard.content as DashboardPanel).retheme();
      }
    });

    const openJobs = (recipe?: string): void => {
      const panel = open('jobs', () => new JobsPanel(ctx));
      if (recipe !== undefined) {
        panel.showRecipe(recipe);
      }
    };
    const openSettings = (recipe: string): void => {
      open(`settings:${recipe}`, () => new SettingsPanel(ctx, recipe, openJobs));
    };

    const openVersions = (recipe: string): void => {
      open(`versions:${recipe}`, () => new VersionsPanel(ctx, recipe));
    };

    const recipes = new RecipesPanel(ctx, openSettings, openJobs);
    recipes.title.icon = listIcon;
    app.shell.add(recipes, 'left', { rank: 250 });
    restorer?.add(recipes, recipes.id);

    app.commands.addCommand(CommandIDs.gallery, {
      label: 'Recipe gallery',
      caption: 'Templates to copy into a project',
      icon: extensionIcon,
      execute: () => void open('gallery', () => new GalleryPanel(ctx))
    });
    app.commands.addCommand(CommandIDs.recipes, {
      label: 'Recipes',
      icon: listIcon,
      execute: () => app.shell.activateById(recipes.id)
    });
    app.commands.addCommand(CommandIDs.jobs, {
      label: 'Jobs',
      caption: 'Job history: status, output notebooks, rerun and cancel',
      icon: runningIcon,
      execute: args => openJobs(args.recipe as string | undefined)
    });
    app.commands.addCommand(CommandIDs.dashboard, {
      label: 'Dashboard',
      caption: 'Jobs per day, per recipe, Proactive volumes, connections',
      icon: tableRowsIcon,
      execute: () => void open('dashboard', () => new DashboardPanel(ctx))
    });
    app.commands.addCommand(CommandIDs.connections, {
      label: 'Connections',
      caption: 'Create, edit and test connections',
      icon: settingsIcon,
      execute: () => void open('connections', () => new ConnectionsPanel(ctx))
    });
    app.commands.addCommand(CommandIDs.settings, {
      label: args => `Recipe settings${args.recipe ? `: ${String(args.recipe)}` : ''}`,
      execute: args => openSettings(String(args.recipe))
    });
    app.commands.addCommand(CommandIDs.versions, {
      label: args => `Recipe versions${args.recipe ? `: ${String(args.recipe)}` : ''}`,
      caption: "The recipe's versions, each with its Restore",
      execute: args => openVersions(String(args.recipe))
    });
    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open an lpstudio panel',
      execute: args => {
        const key = String(args.key ?? '');
        if (key.startsWith('settings:')) {
          openSettings(key.slice('settings:'.length));
        } else if (key.startsWith('versions:')) {
          openVersions(key.slice('versions:'.length));
        } else if (key === 'jobs' || key === 'gallery' || key === 'dashboard' || key === 'connections') {
          return app.commands.execute(
            { jobs: CommandIDs.jobs, gallery: CommandIDs.gallery, dashboard: CommandIDs.dashboard, connections: CommandIDs.connections }[key]
          );
        }
      }
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openPanel,
        args: widget => ({ key: keys.get(widget) ?? '' }),
        name: widget => keys.get(widget) ?? widget.id
      });
    }
    app.commands.addCommand(CommandIDs.tryTemplate, {
      label: args => (args.title ? `Try: ${String(args.title)}` : 'Try recipe'),
      caption: args => String(args.description ?? ''),
      icon: inspectorIcon,
      isVisible: () => me.can.build,
      execute: args => {
        const template = args as unknown as Template;
        return tryTemplate(ctx, { ...template, connectors: template.connectors ?? [], files: template.files ?? [] });
      }
    });

    for (const [rank, command] of [
      CommandIDs.gallery,
      CommandIDs.jobs,
      CommandIDs.dashboard,
      CommandIDs.connections
    ].entries()) {
      launcher?.add({ command, category: CATEGORY, rank });
      palette?.addItem({ command, category: CATEGORY });
    }
    palette?.addItem({ command: CommandIDs.recipes, category: CATEGORY });
    if (me.can.build && launcher) {
      api.gallery().then(
        ({ templates }) =>
          templates.forEach((t, i) =>
            launcher.add({
              command: CommandIDs.tryTemplate,
              args: { ...t } as any,
              category: CATEGORY,
              rank: 10 + i
            })
          ),
        err => console.warn('lpstudio: no gallery for the launcher', err)
      );
    }

    // The gallery pops up the first time an admin opens the studio; dismissed, it stays away.
    // The workspace's store remembers it per admin (`/me`): JupyterLab's settings, one file
    // per OS account, kept it from another admin and from the admin's next workspace.
    if (me.gallery_popup) {
      void app.restored.then(async () => {
        await showGalleryPopup(ctx);
        await api.dismissGalleryPopup().catch(err => console.warn('lpstudio: cannot remember the pop-up', err));
      });
    }
  }
};

export default plugin;
