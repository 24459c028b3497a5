// @oclif/plugin-autocomplete's commands, bundled with ours instead of loaded as a plugin: one
// oclif instance, no plugin discovery at start-up. Its package exports no subpaths, hence the
// paths into node_modules.
export {default as AutocompleteIndex} from '../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/index.js'
export {default as AutocompleteCreate} from '../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/create.js'
export {default as AutocompleteScript} from '../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/script.js'
