from musicrec.api.recommendations_app import create_app

app = create_app()
