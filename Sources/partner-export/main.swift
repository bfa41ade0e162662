import ExportCommands
import Logging

LoggingBootstrap.bootstrap()
PartnerExportCommand.runAndExit()
