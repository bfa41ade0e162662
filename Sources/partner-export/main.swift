import ExportCommands

PartnerExportCommand.runAndExit()
