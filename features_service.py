from musicrec.api.features_app import create_app

app = create_app()
